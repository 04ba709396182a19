package ceremony

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/accessd/accessd/daemon/internal/datadir"
	"github.com/accessd/accessd/seal"
)

// ResealOptions say what `accessd reseal` binds the root key to.
type ResealOptions struct {
	// PCRs is the PCR selection to bind to; nil keeps the selection
	// recorded in root.sealed, and an empty list binds to none.
	PCRs []int
	// Planned are PCR values expected after a planned firmware or Secure
	// Boot change. When set, the key is sealed so that it opens with the
	// current values of the selection and with these (PCRs not named keep
	// their current values), and the first start on the new values
	// re-seals it to them alone.
	Planned []seal.PCR
}

// ReadSealedInfo returns what root.sealed says it is bound to. It is not
// authenticated (the TPM is not asked): for messages only.
func ReadSealedInfo(cfg Config) (seal.SealedInfo, error) {
	return seal.ReadSealedInfo(datadir.SealedPath(cfg.DataDir))
}

// recordedPCRs is the PCR selection recover re-seals to: the one root.sealed
// records, so that a recovery does not silently change what the key is
// bound to. The header cannot be authenticated here (the TPM that sealed it
// may be gone), so a difference from seal.pcrs is logged; when the file is
// missing or unreadable, seal.pcrs applies.
func recordedPCRs(cfg Config, log *slog.Logger) []int {
	info, err := ReadSealedInfo(cfg)
	if err != nil {
		log.Warn("cannot read the PCR selection recorded in root.sealed; sealing to seal.pcrs",
			"event", "seal.pcrs_from_config", "configured", cfg.Seal.PCRs, "error", err.Error())
		return cfg.Seal.PCRs
	}
	pcrs := PCRIndices(info.PCRs)
	WarnPCRDrift(log, pcrs, cfg.Seal.PCRs)
	return pcrs
}

// WarnPCRDrift says so when root.sealed and seal.pcrs disagree, naming
// both and the command that applies the config.
func WarnPCRDrift(log *slog.Logger, bound, configured []int) {
	if slices.Equal(bound, configured) {
		return
	}
	log.Warn(fmt.Sprintf("root key is bound to PCRs %s but seal.pcrs is %s; run `accessd reseal --pcrs %s` to bind it to the config's PCRs, or set seal.pcrs to %s",
		pcrText(bound), pcrText(configured), pcrFlag(configured), pcrText(bound)),
		"event", "seal.pcr_drift", "bound", bound, "configured", configured)
}

// FinishPlannedChange is serve's part of a planned PCR change: on the
// first start on the planned values it re-seals the root key to them
// alone. A failure is logged, not fatal: the file in place still opens on
// the new values, and the next start or `accessd reseal` tries again.
func FinishPlannedChange(dataDir string, s seal.Sealer, root seal.RootKey, info seal.SealedInfo, log *slog.Logger) seal.SealedInfo {
	if len(info.Planned) == 0 {
		return info
	}
	next, done, err := seal.FinishPlannedChange(datadir.SealedPath(dataDir), s, root, info, time.Now())
	switch {
	case err != nil:
		log.Warn("the PCRs hold the planned values but re-sealing to them alone failed; the key still opens with the old or the new values: run `accessd reseal` to retry",
			"event", "seal.planned_finish_failed", "error", err.Error())
	case done:
		log.Warn("planned PCR change completed: root key re-sealed to the new PCR values alone",
			"event", "seal.planned_done", "pcrs", PCRIndices(next.PCRs), "values", seal.FormatPCRValues(next.PCRs))
	default:
		log.Info("planned PCR change pending: the root key opens with the current PCR values and with the planned ones",
			"event", "seal.planned_pending", "pcrs", PCRIndices(info.PCRs), "planned", seal.FormatPCRValues(info.Planned))
	}
	return next
}

// PCRIndices is the selection of pcrs.
func PCRIndices(pcrs []seal.PCR) []int {
	out := make([]int, 0, len(pcrs))
	for _, p := range pcrs {
		out = append(out, p.Index)
	}
	return out
}

// pcrText is a selection as the config writes it: [0, 7], or [].
func pcrText(pcrs []int) string {
	parts := make([]string, len(pcrs))
	for i, p := range pcrs {
		parts[i] = strconv.Itoa(p)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// pcrFlag is a selection as --pcrs takes it: 0,7, or none.
func pcrFlag(pcrs []int) string {
	if len(pcrs) == 0 {
		return "none"
	}
	parts := make([]string, len(pcrs))
	for i, p := range pcrs {
		parts[i] = strconv.Itoa(p)
	}
	return strings.Join(parts, ",")
}
