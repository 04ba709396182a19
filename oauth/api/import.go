package api

// ImportResult is the answer of POST /v1/import (admin plane): what an
// import of a Lerian export did, or with dryRun would do, record by
// record.
type ImportResult struct {
	DryRun  bool           `json:"dryRun"`
	Records []ImportRecord `json:"records"`
	// Passwords are the one-time passwords of the users created without
	// a password hash, shown once; each must be changed at first sign-in.
	// Never set on a dry run.
	Passwords []ImportedPassword `json:"passwords,omitempty"`
}

// ImportRecord is one record of an import file and what happens to it.
type ImportRecord struct {
	Kind   string `json:"kind"` // "user", "group", "application", "membership"
	Name   string `json:"name"` // username, group name, clientId
	ID     string `json:"id,omitempty"`
	Action string `json:"action"` // "create", "unchanged" or "conflict"
	// Detail says how a record is created, or for a conflict what differs
	// and how to resolve it. It never holds a secret.
	Detail string `json:"detail,omitempty"`
}

// ImportedPassword is a created user's one-time password.
type ImportedPassword struct {
	Username string `json:"username"`
	Password string `json:"password"`
}
