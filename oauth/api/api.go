package api

import "time"

// Error is the error body of both planes, in Lerian's shape, so lib-auth
// passes it through to its caller.
type Error struct {
	Code    string `json:"code"`
	Title   string `json:"title"`
	Message string `json:"message"`
}

// Status is what `accessctl status` shows: enough for an operator to see
// at a glance that the daemon is up, sealed to what, and listening where.
type Status struct {
	Version   string         `json:"version"`
	StartedAt time.Time      `json:"startedAt"`
	Uptime    string         `json:"uptime"`
	Dev       bool           `json:"dev"`
	Seal      SealStatus     `json:"seal"`
	Store     StoreStatus    `json:"store"`
	Listeners []Listener     `json:"listeners"`
	Lockdown  LockdownStatus `json:"lockdown"`
}

// SealStatus says which TPM holds the root key and which PCRs bind it.
type SealStatus struct {
	Kind string `json:"kind"`
	PCRs []int  `json:"pcrs"`
	// RollbackDetection is "on", or "off (--dev)" where the TPM keeps no
	// NV state across runs.
	RollbackDetection string `json:"rollbackDetection"`
}

// StoreStatus is the store's size on disk.
type StoreStatus struct {
	Path      string `json:"path"`
	LSMBytes  int64  `json:"lsmBytes"`
	VlogBytes int64  `json:"vlogBytes"`
}

// Listener is one bound endpoint of the daemon.
type Listener struct {
	Plane     string `json:"plane"` // "data" or "admin"
	Address   string `json:"address"`
	Activated bool   `json:"activated"` // handed over by systemd socket activation
}

// LockdownStatus summarises the host checks made at start.
type LockdownStatus struct {
	Mode     string            `json:"mode"`
	Passed   int               `json:"passed"`
	Warnings int               `json:"warnings"`
	Failed   int               `json:"failed"`
	Findings []LockdownFinding `json:"findings,omitempty"`
}

// LockdownFinding is one check that did not pass cleanly.
type LockdownFinding struct {
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
	Found    string `json:"found"`
	Fix      string `json:"fix,omitempty"`
}
