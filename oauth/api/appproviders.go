package api

// LinkProviderRequest links a delivery provider to an application
// (Lerian's ProviderItemInput). Only providerId is required; the flags
// are kept and shown as given.
type LinkProviderRequest struct {
	ProviderID string `json:"providerId"`
	CanSignIn  bool   `json:"canSignIn,omitempty"`
	CanSignUp  bool   `json:"canSignUp,omitempty"`
	CanUnlink  bool   `json:"canUnlink,omitempty"`
	Prompted   bool   `json:"prompted,omitempty"`
	AlertType  string `json:"alertType,omitempty"`
	Rule       string `json:"rule,omitempty"`
}

// AppProvider is a provider linked to an application (Lerian's
// ProviderItemResponse) plus whether it is the application's default
// for its category: the provider that delivers the codes of users who
// sign in through the application.
type AppProvider struct {
	ProviderID string `json:"providerId"`
	Name       string `json:"name"`
	Category   string `json:"category"`
	Type       string `json:"type"`
	CanSignIn  bool   `json:"canSignIn"`
	CanSignUp  bool   `json:"canSignUp"`
	CanUnlink  bool   `json:"canUnlink"`
	Prompted   bool   `json:"prompted"`
	AlertType  string `json:"alertType,omitempty"`
	Rule       string `json:"rule,omitempty"`
	Default    bool   `json:"default"`
}
