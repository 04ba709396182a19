package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/change"
	"github.com/accessd/accessd/oauth/credential"
	"github.com/accessd/accessd/store"
)

// deliveryTimeout bounds one delivery to a relay or gateway.
const deliveryTimeout = 10 * time.Second

var (
	providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	headerName   = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]{1,64}$`)
)

// maxCAPEM bounds a provider's CA bundle.
const maxCAPEM = 64 << 10

func providerView(p store.Provider) api.Provider {
	return api.Provider{ID: p.ID, Name: p.Name, Default: p.Default, Category: p.Category, Type: p.Type, Host: p.Host, Port: p.Port,
		ClientID: p.ClientID, ClientSecretSet: len(p.ClientSecret) > 0, DisableSSL: p.DisableSSL, From: p.From,
		CAPEM: p.CAPEM, URL: p.URL, Template: p.Template, AuthHeader: p.AuthHeader, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// checkProvider validates a provider and fills its defaults (type, port,
// the Twilio preset's URL and template).
func checkProvider(p *store.Provider) error {
	if !providerName.MatchString(p.Name) {
		return change.Invalid("identity", "name must be 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
	}
	if idShape.MatchString(p.Name) {
		return change.Invalid("identity", "name must not look like a provider ID (a UUID), so that either addresses one provider")
	}
	for what, v := range map[string]string{"type": p.Type, "host": p.Host, "clientId": p.ClientID, "from": p.From, "url": p.URL, "authHeader": p.AuthHeader} {
		if len(v) > 2048 {
			return change.Invalid("identity", "%s is longer than 2048 bytes", what)
		}
		if err := credential.CheckText(what, v); err != nil {
			return err
		}
	}
	if len(p.CAPEM) > maxCAPEM {
		return change.Invalid("identity", "caPem is larger than %d bytes", maxCAPEM)
	}
	if _, err := Roots(p.CAPEM); err != nil {
		return change.Invalid("identity", "caPem: %v", err)
	}
	if p.Port < 0 || p.Port > 65535 {
		return change.Invalid("identity", "port must be 1 to 65535")
	}
	switch p.Category {
	case api.ProviderEmail:
		switch p.Type {
		case "":
			p.Type = api.ProviderSMTP
		case api.ProviderSMTP, api.ProviderSMTPS:
		default:
			return change.Invalid("identity", "type of an Email provider must be %q (STARTTLS) or %q (implicit TLS)", api.ProviderSMTP, api.ProviderSMTPS)
		}
		if p.Port == 0 {
			p.Port = map[string]int{api.ProviderSMTP: 587, api.ProviderSMTPS: 465}[p.Type]
		}
		if p.Host == "" || len(p.Host) > 253 {
			return change.Missing("identity", "host")
		}
		if a, err := mail.ParseAddress(p.From); err != nil || a.Address != p.From {
			return change.Invalid("identity", "from must be the sender's plain address, like accessd@example.com")
		}
		if p.URL != "" || p.Template != "" || p.AuthHeader != "" {
			return change.Invalid("identity", "url, template and authHeader belong to SMS providers")
		}
	case api.ProviderSMS:
		enc := EncodeForm
		switch p.Type {
		case "", api.ProviderHTTP:
			p.Type, enc = api.ProviderHTTP, EncodeJSON
		case api.ProviderHTTPForm:
		case api.ProviderTwilio:
			if p.URL == "" {
				if p.ClientID == "" {
					return change.Invalid("identity", "the twilio preset needs clientId (the account SID) or a url")
				}
				p.URL = TwilioURL(p.ClientID)
			}
			if p.Template == "" {
				if err := credential.CheckPhoneNumber(p.From); err != nil || p.From == "" {
					return change.Invalid("identity", "the twilio preset needs from: the sending number in E.164")
				}
				p.Template = TwilioTemplate(p.From)
			}
		default:
			return change.Invalid("identity", "type of an SMS provider must be %q (JSON body), %q (form body) or %q", api.ProviderHTTP, api.ProviderHTTPForm, api.ProviderTwilio)
		}
		u, err := url.Parse(p.URL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && p.DisableSSL)) || len(p.URL) > 2048 {
			return change.Invalid("identity", "url must be an absolute https URL (http only with disableSsl)")
		}
		if len(p.Template) > 8192 {
			return change.Invalid("identity", "template is longer than 8192 bytes")
		}
		if err := CheckTemplate(p.Template, enc); err != nil {
			return change.Invalid("identity", "template: %v", err)
		}
		if p.AuthHeader != "" && !headerName.MatchString(p.AuthHeader) {
			return change.Invalid("identity", "authHeader must be an HTTP header name")
		}
		if p.Host != "" {
			return change.Invalid("identity", "host and port belong to Email providers; an SMS provider has a url")
		}
	case "":
		return change.Missing("identity", "category")
	default:
		return change.Invalid("identity", "category must be %q or %q", api.ProviderEmail, api.ProviderSMS)
	}
	return nil
}

func encodingOf(typ string) string {
	if typ == api.ProviderHTTP {
		return EncodeJSON
	}
	return EncodeForm
}

// sealSecret puts secret (or nothing, when empty) into p inside tx.
func sealSecret(tx *store.Tx, p *store.Provider, secret string) error {
	if secret == "" {
		p.ClientSecret = nil
		return nil
	}
	b := []byte(secret)
	defer clear(b)
	sealed, err := tx.Providers().SealSecret(p.Name, b)
	p.ClientSecret = sealed
	return err
}

// CreateProvider stores a delivery provider; its secret is sealed to the
// record and never returned.
func (s *Providers) CreateProvider(ctx context.Context, a change.Actor, req api.CreateProviderRequest) (api.Provider, error) {
	if err := s.dir.SharedConfig(a, "delivery providers"); err != nil {
		return api.Provider{}, err
	}
	p := store.Provider{Name: req.Name, Category: req.Category, Type: req.Type, Host: req.Host, Port: req.Port,
		ClientID: req.ClientID, DisableSSL: req.DisableSSL, From: req.From, CAPEM: req.CAPEM, URL: req.URL,
		Template: req.Template, AuthHeader: req.AuthHeader}
	if err := checkProvider(&p); err != nil {
		return api.Provider{}, err
	}
	if err := s.mayConfigure(a, nil, p); err != nil {
		return api.Provider{}, err
	}
	id, err := s.st.NewID()
	if err != nil {
		return api.Provider{}, err
	}
	p.ID = id
	err = s.st.Update(func(tx *store.Tx) error {
		q := p
		if err := sealSecret(tx, &q, req.ClientSecret); err != nil {
			return err
		}
		// The first provider of a category is its default: with one
		// provider there is nothing to choose. Later ones are chosen
		// with set-default, never by their order.
		all, err := tx.Providers().List()
		if err != nil {
			return err
		}
		q.Default = !slices.ContainsFunc(all, func(o store.Provider) bool { return o.Category == q.Category })
		created, err := tx.Providers().Create(q)
		if err != nil {
			return err
		}
		p = created
		if err := tx.Audit().Stage(a.Entry(s.now(), "provider.create", "provider:"+p.ID, "ok", providerDetail(p))); err != nil {
			return err
		}
		if !p.Default {
			return nil
		}
		// Becoming a default is audited as such, however it happens.
		return tx.Audit().Stage(a.Entry(s.now(), "provider.set_default", "provider:"+p.ID, "ok",
			map[string]string{"name": p.Name, "category": p.Category, "reason": "the first provider of its category"}))
	})
	if err != nil {
		return api.Provider{}, change.StoreErr("identity", "create provider "+p.Name, err)
	}
	return providerView(p), nil
}

func providerDetail(p store.Provider) map[string]string {
	return map[string]string{"name": p.Name, "default": fmt.Sprint(p.Default), "category": p.Category, "type": p.Type, "disableSsl": fmt.Sprint(p.DisableSSL), "secretSet": fmt.Sprint(len(p.ClientSecret) > 0)}
}

// ListProviders lists the providers in name order.
func (s *Providers) ListProviders() ([]api.Provider, error) {
	ps, err := s.st.Providers().List()
	if err != nil {
		return nil, change.StoreErr("identity", "list providers", err)
	}
	out := make([]api.Provider, 0, len(ps))
	for _, p := range ps {
		out = append(out, providerView(p))
	}
	return out, nil
}

// GetProvider shows one provider, by ID or name.
func (s *Providers) GetProvider(idOrName string) (api.Provider, error) {
	var p store.Provider
	err := s.st.View(func(tx *store.Tx) error {
		var err error
		p, err = lookupProvider(tx, idOrName)
		return err
	})
	return providerView(p), change.StoreErr("identity", "get provider "+idOrName, err)
}

// UpdateProvider changes the fields the request sets and validates the
// result as a whole.
func (s *Providers) UpdateProvider(ctx context.Context, a change.Actor, idOrName string, req api.UpdateProviderRequest) (api.Provider, error) {
	if err := s.dir.SharedConfig(a, "delivery providers"); err != nil {
		return api.Provider{}, err
	}
	var out store.Provider
	err := s.st.Update(func(tx *store.Tx) error {
		cur, err := lookupProvider(tx, idOrName)
		if err != nil {
			return err
		}
		p, err := tx.Providers().Update(cur.Name, func(p store.Provider) (store.Provider, error) {
			old := p
			set := func(dst *string, v *string) {
				if v != nil {
					*dst = *v
				}
			}
			set(&p.Type, req.Type)
			set(&p.Host, req.Host)
			set(&p.ClientID, req.ClientID)
			set(&p.From, req.From)
			set(&p.CAPEM, req.CAPEM)
			set(&p.URL, req.URL)
			set(&p.Template, req.Template)
			set(&p.AuthHeader, req.AuthHeader)
			if req.Port != nil {
				p.Port = *req.Port
			}
			if req.DisableSSL != nil {
				p.DisableSSL = *req.DisableSSL
			}
			if err := checkProvider(&p); err != nil {
				return p, err
			}
			if err := s.mayConfigure(a, &old, p); err != nil {
				return p, err
			}
			// The stored secret was entered for one destination and
			// one way of sending it: a change of either needs it again
			// (refused rather than cleared, so that nothing breaks
			// silently).
			if f := moved(old, p); f != "" && len(old.ClientSecret) > 0 && req.ClientSecret == nil {
				return p, fmt.Errorf("identity: %w: clientSecret: changing %s would send the stored secret where, or in a way, it was not entered for; send clientSecret again in the same request (\"\" removes it)", api.ErrMissingRequired, f)
			}
			if req.ClientSecret != nil {
				if err := sealSecret(tx, &p, *req.ClientSecret); err != nil {
					return p, err
				}
			}
			return p, nil
		})
		if err != nil {
			return err
		}
		out = p
		return tx.Audit().Stage(a.Entry(s.now(), "provider.update", "provider:"+p.ID, "ok", providerDetail(p)))
	})
	if err != nil {
		return api.Provider{}, change.StoreErr("identity", "update provider "+idOrName, err)
	}
	return providerView(out), nil
}

// moved names the first field whose change sends a provider's secret
// elsewhere or otherwise: where (url, host, port), how (type, TLS, CA)
// or as what (authHeader, clientId); "" when none changed.
func moved(old, p store.Provider) string {
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{"url", old.URL != p.URL}, {"host", old.Host != p.Host}, {"port", old.Port != p.Port},
		{"type", old.Type != p.Type}, {"disableSsl", old.DisableSSL != p.DisableSSL}, {"caPem", old.CAPEM != p.CAPEM},
		{"authHeader", old.AuthHeader != p.AuthHeader}, {"clientId", old.ClientID != p.ClientID},
	} {
		if f.changed {
			return f.name
		}
	}
	return ""
}

// mayConfigure refuses what a's plane may not set on p (old is the
// provider before the change; nil when p is new): on the data plane,
// disableSsl (a provider that has it is changed on the admin socket
// only) and a destination outside allow_hosts; on either plane, a
// destination that is never one (see Destinations).
func (s *Providers) mayConfigure(a change.Actor, old *store.Provider, p store.Provider) error {
	if !a.Admin && p.DisableSSL && (old == nil || !old.DisableSSL || moved(*old, p) != "") {
		return fmt.Errorf("identity: %w: disableSsl is set on the admin socket only (accessctl provider create|update --disable-ssl), and a provider that has it is changed there", api.ErrForbidden)
	}
	host, port := destinationOf(p)
	if old != nil {
		if h, n := destinationOf(*old); h == host && n == port {
			return nil
		}
	}
	return s.dest.settable(a.Admin, host, port)
}

// DeleteProvider removes a provider and its links to applications. When
// it was its category's default, the category has none until an admin
// sets one: no other provider takes over by accident.
func (s *Providers) DeleteProvider(ctx context.Context, a change.Actor, idOrName string) error {
	if err := s.dir.SharedConfig(a, "delivery providers"); err != nil {
		return err
	}
	err := s.st.Update(func(tx *store.Tx) error {
		p, err := lookupProvider(tx, idOrName)
		if err != nil {
			return err
		}
		if err := tx.Providers().Delete(p.Name); err != nil {
			return err
		}
		unlinked, err := unlinkEverywhere(tx, p.ID)
		if err != nil {
			return err
		}
		return tx.Audit().Stage(a.Entry(s.now(), "provider.delete", "provider:"+p.ID, "ok",
			map[string]string{"name": p.Name, "default": fmt.Sprint(p.Default), "unlinkedFrom": fmt.Sprint(unlinked)}))
	})
	return change.StoreErr("identity", "delete provider "+idOrName, err)
}

// TestProvider sends a test message through a provider to an address
// (Email) or an E.164 number (SMS) and reports what the peer answered.
// A refused delivery is an answer, not an error.
func (s *Providers) TestProvider(ctx context.Context, a change.Actor, idOrName, to string) (api.ProviderTestResult, error) {
	if err := s.dir.SharedConfig(a, "delivery providers"); err != nil {
		return api.ProviderTestResult{}, err
	}
	var p store.Provider
	err := s.st.View(func(tx *store.Tx) error {
		var err error
		p, err = lookupProvider(tx, idOrName)
		return err
	})
	if err != nil {
		return api.ProviderTestResult{}, change.StoreErr("identity", "get provider "+idOrName, err)
	}
	switch {
	case to == "":
		return api.ProviderTestResult{}, change.Missing("identity", "to")
	case p.Category == api.ProviderEmail:
		if err := credential.CheckEmail(to); err != nil {
			return api.ProviderTestResult{}, err
		}
	default:
		if err := credential.CheckPhoneNumber(to); err != nil {
			return api.ProviderTestResult{}, err
		}
	}
	err = s.limits.take(limitKey{limitTestProvider, "test:" + p.Name}, limitKey{limitTestCaller, "caller:" + a.Name},
		limitKey{limitDestination, destinationKey(p.Category, to)})
	if err != nil {
		s.count("test", p.Category, err)
		change.Record(ctx, s.audit, s.log, a.Entry(s.now(), "provider.test", "provider:"+p.ID, "rate-limited", map[string]string{"name": p.Name}))
		return api.ProviderTestResult{}, err
	}
	_, err = s.deliver(ctx, p, to, "accessd test message", "This is a test message from accessd: the provider "+p.Name+" works.")
	s.count("test", p.Category, err)
	// The answer is a fixed class: what a peer said can reflect an
	// internal service, so it goes to the log, for the operator only.
	out := api.ProviderTestResult{Provider: p.Name, Delivered: err == nil, Answer: Class(err)}
	result := "ok"
	if err != nil {
		out.Answer, out.Error, result = "", Class(err), "failed"
		s.log.Warn("provider test send failed", "event", "provider.test_failed", "provider", p.Name, "class", out.Error, "err", err)
	}
	change.Record(ctx, s.audit, s.log, a.Entry(s.now(), "provider.test", "provider:"+p.ID, result, map[string]string{"name": p.Name, "class": Class(err)}))
	return out, nil
}

// count counts one send of kind (code, test) in the metrics.
func (s *Providers) count(kind, category string, err error) {
	var rl *ErrRateLimited
	switch {
	case err == nil:
		s.metrics.sends.WithLabelValues(kind, category, "delivered").Inc()
	case errors.As(err, &rl):
		s.metrics.sends.WithLabelValues(kind, category, "limited").Inc()
		s.metrics.limited.WithLabelValues(kind, rl.Limit).Inc()
	default:
		s.metrics.sends.WithLabelValues(kind, category, "failed").Inc()
	}
}

// Send delivers one code through p, outside any store transaction,
// within deliveryTimeout, under the provider's and the destination's
// send limits (an *ErrRateLimited when over one). The secret is opened
// for this send only.
func (s *Providers) Send(ctx context.Context, p store.Provider, to, subject, body string) (string, error) {
	if err := s.limits.take(limitKey{limitCodeProvider, "provider:" + p.Name}, limitKey{limitDestination, destinationKey(p.Category, to)}); err != nil {
		s.count("code", p.Category, err)
		return "", err
	}
	ans, err := s.deliver(ctx, p, to, subject, body)
	s.count("code", p.Category, err)
	return ans, err
}

// deliver sends one message through p; connections go only where
// s.dest allows.
func (s *Providers) deliver(ctx context.Context, p store.Provider, to, subject, body string) (string, error) {
	secret, err := s.st.Providers().OpenSecret(p)
	if err != nil {
		return "", change.StoreErr("identity", "open provider secret", err)
	}
	defer clear(secret)
	roots, err := Roots(p.CAPEM)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	if p.Category == api.ProviderEmail {
		r := Relay{Name: p.Name, Host: p.Host, Port: p.Port, ImplicitTLS: p.Type == api.ProviderSMTPS,
			Insecure: p.DisableSSL, Username: p.ClientID, Password: secret, Roots: roots, Destinations: s.dest, Log: s.log}
		return r.Send(ctx, Email{From: p.From, To: to, Subject: subject, Body: body})
	}
	g := Gateway{Name: p.Name, URL: p.URL, Template: p.Template, Encoding: encodingOf(p.Type),
		Username: p.ClientID, Secret: secret, AuthHeader: p.AuthHeader, Insecure: p.DisableSSL, Roots: roots, Destinations: s.dest, Log: s.log}
	return g.Send(ctx, to, body)
}
