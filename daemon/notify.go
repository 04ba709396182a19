package daemon

import (
	"context"
	"log/slog"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// notifier tells systemd where start-up has got to. Without NOTIFY_SOCKET
// (not under systemd) every call is a no-op.
type notifier struct{ log *slog.Logger }

func (n notifier) send(state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		n.log.Warn("systemd notify failed", "err", err)
	}
}

func (n notifier) status(s string) { n.send("STATUS=" + s) }

// watchdog pings systemd at half of WATCHDOG_USEC until ctx ends, as
// sd_watchdog_enabled(3) advises. It returns at once when no watchdog is
// configured for this process.
func (n notifier) watchdog(ctx context.Context) {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.send(sd.SdNotifyWatchdog)
		}
	}
}
