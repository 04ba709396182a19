package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/accessd/accessd/oauth/api"
)

const providerNotFound = "'accessctl provider list' shows the providers"

// providerCmds is `accessctl provider`: e-mail and SMS delivery providers.
type providerCmds struct{ ctl *ctl }

func (c providerCmds) command() *cobra.Command {
	return c.ctl.noun("provider", "manage MFA delivery providers (SMTP relays, SMS gateways): create, list, get, update, delete, test, set-default",
		c.create(),
		c.list(),
		c.get(),
		c.update(),
		c.delete(),
		c.test(),
		c.setDefault(),
	)
}

// providerFlags are the fields a provider shares between create and
// update, in kebab-case; the secret comes from stdin only.
type providerFlags struct {
	req         api.CreateProviderRequest
	caFile      string
	secretStdin bool
	clearSecret bool
}

func (p *providerFlags) register(f *pflag.FlagSet, create bool) {
	if create {
		f.StringVar(&p.req.Name, "name", "", "provider `name` (required)")
		f.StringVar(&p.req.Category, "category", "", "`Email` or SMS (required)")
	}
	f.StringVar(&p.req.Type, "type", "", "Email: smtp (STARTTLS, the default) or smtps (implicit TLS); SMS: http (JSON body, the default), http-form or twilio (`type`)")
	f.StringVar(&p.req.Host, "host", "", "SMTP relay `host`")
	f.IntVar(&p.req.Port, "port", 0, "SMTP relay `port` (587 for smtp, 465 for smtps when unset)")
	f.StringVar(&p.req.ClientID, "client-id", "", "user `name` for SMTP AUTH or Basic auth (the account SID for twilio)")
	f.BoolVar(&p.req.DisableSSL, "disable-ssl", false, "allow delivery without TLS (logged at every use; no credentials are sent then)")
	f.StringVar(&p.req.From, "from", "", "sender: an e-mail `address` (Email) or an E.164 number (twilio)")
	f.StringVar(&p.caFile, "ca-file", "", "PEM `file` of the CA the relay's or gateway's certificate must chain to (default: the system roots)")
	f.StringVar(&p.req.URL, "url", "", "SMS gateway https `URL`")
	f.StringVar(&p.req.Template, "template", "", "SMS body `template` with {{phone}} and {{message}}")
	f.StringVar(&p.req.AuthHeader, "auth-header", "", "send the secret in this `header` instead of Basic auth")
	f.BoolVar(&p.secretStdin, "client-secret-stdin", false, "read the password, token or API key from the first line of stdin")
	if !create {
		f.BoolVar(&p.clearSecret, "clear-client-secret", false, "remove the stored secret")
	}
}

func (c providerCmds) readCA(path, file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", usageErr(path, "--ca-file: %v", err)
	}
	return string(b), nil
}

func (c providerCmds) create() *cobra.Command {
	var p providerFlags
	cmd := &cobra.Command{
		Use:   "create --name N --category Email|SMS [--type T] [--host H] [--port P] [--client-id ID] [--client-secret-stdin] [--from F] [--ca-file PEM] [--url U] [--template T] [--auth-header H] [--disable-ssl]",
		Short: "create a delivery provider; the secret is read from stdin and never shown again",
		Example: `  pass show relay | accessctl provider create --name relay --category Email --host mail.example.internal \
      --client-id accessd --client-secret-stdin --from accessd@example.internal --ca-file /etc/ssl/site-ca.pem
  pass show sms | accessctl provider create --name sms --category SMS --url https://sms.example.internal/send \
      --template '{"to":"{{phone}}","text":"{{message}}"}' --client-id accessd --client-secret-stdin`,
		Args: exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(p.req.Name) == "" || strings.TrimSpace(p.req.Category) == "" {
				return usageErr(cmd.CommandPath(), "--name and --category must not be empty")
			}
			if p.caFile != "" {
				pem, err := c.readCA(cmd.CommandPath(), p.caFile)
				if err != nil {
					return err
				}
				p.req.CAPEM = pem
			}
			if p.secretStdin {
				s, err := c.ctl.readSecret(cmd.CommandPath(), "--client-secret-stdin")
				if err != nil {
					return err
				}
				p.req.ClientSecret = s
			}
			var out api.Provider
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: "/v1/providers", body: p.req}, &out); err != nil {
				return err
			}
			return c.show(out)
		}),
	}
	p.register(cmd.Flags(), true)
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("category")
	return cmd
}

func (c providerCmds) list() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list delivery providers (a category's codes go through its default, unless the sign-in's application has its own)",
		Args:  exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			l, err := getAll[api.Provider](cmd.Context(), c.ctl.cl, call{method: http.MethodGet, path: "/v1/providers"})
			if err != nil {
				return err
			}
			if l == nil {
				l = []api.Provider{}
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(l)
			}
			if len(l) == 0 {
				fmt.Fprintln(c.ctl.stdout, "no providers")
				return nil
			}
			tw := c.ctl.table()
			fmt.Fprintln(tw, "ID\tNAME\tCATEGORY\tDEFAULT\tTYPE\tENDPOINT\tSECRET\tTLS")
			for _, p := range l {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(p.ID), p.Name, p.Category, yesOrNo(p.Default), p.Type, cell(endpoint(p)), setOrNot(p.ClientSecretSet), tlsMode(p))
			}
			return tw.Flush()
		}),
	}
}

func (c providerCmds) get() *cobra.Command {
	return &cobra.Command{
		Use:   "get ID|NAME",
		Short: "show a delivery provider (whether a secret is set, never the secret)",
		Args:  exactArgs("ID|NAME"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			var p api.Provider
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodGet, path: route("/v1/providers", args[0]), notFound: providerNotFound}, &p); err != nil {
				return err
			}
			return c.show(p)
		}),
	}
}

func (c providerCmds) update() *cobra.Command {
	var p providerFlags
	cmd := &cobra.Command{
		Use:   "update ID|NAME [--type T] [--host H] [--port P] [--client-id ID] [--client-secret-stdin|--clear-client-secret] [--from F] [--ca-file PEM] [--url U] [--template T] [--auth-header H] [--disable-ssl=true|false]",
		Short: "change a delivery provider; only the flags given are changed",
		Args:  exactArgs("ID|NAME"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			var req api.UpdateProviderRequest
			str := func(name string, v *string) *string {
				if f.Changed(name) {
					return v
				}
				return nil
			}
			req.Type, req.Host, req.ClientID = str("type", &p.req.Type), str("host", &p.req.Host), str("client-id", &p.req.ClientID)
			req.From, req.URL, req.Template, req.AuthHeader = str("from", &p.req.From), str("url", &p.req.URL), str("template", &p.req.Template), str("auth-header", &p.req.AuthHeader)
			if f.Changed("port") {
				req.Port = &p.req.Port
			}
			if f.Changed("disable-ssl") {
				req.DisableSSL = &p.req.DisableSSL
			}
			if f.Changed("ca-file") {
				pem := ""
				if p.caFile != "" {
					var err error
					if pem, err = c.readCA(cmd.CommandPath(), p.caFile); err != nil {
						return err
					}
				}
				req.CAPEM = &pem
			}
			switch {
			case p.secretStdin && p.clearSecret:
				return usageErr(cmd.CommandPath(), "--client-secret-stdin and --clear-client-secret exclude each other")
			case p.secretStdin:
				s, err := c.ctl.readSecret(cmd.CommandPath(), "--client-secret-stdin")
				if err != nil {
					return err
				}
				req.ClientSecret = &s
			case p.clearSecret:
				none := ""
				req.ClientSecret = &none
			}
			if req == (api.UpdateProviderRequest{}) {
				return usageErr(cmd.CommandPath(), "nothing to change: give at least one flag")
			}
			var out api.Provider
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPatch, path: route("/v1/providers", args[0]), body: req, notFound: providerNotFound}, &out); err != nil {
				return err
			}
			return c.show(out)
		}),
	}
	p.register(cmd.Flags(), false)
	return cmd
}

func (c providerCmds) delete() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID|NAME",
		Short: "delete a delivery provider",
		Args:  exactArgs("ID|NAME"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodDelete, path: route("/v1/providers", args[0]), notFound: providerNotFound}, nil); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(outcome{Kind: "provider", ID: args[0], Result: "deleted"})
			}
			fmt.Fprintf(c.ctl.stdout, "provider %s deleted\n", args[0])
			return nil
		}),
	}
}

func (c providerCmds) test() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "test ID|NAME --to ADDRESS|+E164",
		Short: "send a test message through a provider and show what the relay or gateway answered",
		Args:  exactArgs("ID|NAME"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(to) == "" {
				return usageErr(cmd.CommandPath(), "--to must not be empty")
			}
			var out api.ProviderTestResult
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: route("/v1/providers", args[0]) + "/test", body: api.ProviderTestRequest{To: to}, notFound: providerNotFound}, &out); err != nil {
				return err
			}
			if out.Provider == "" {
				return &cliError{code: exitError, msg: "the daemon's answer to the test send names no provider"}
			}
			if !out.Delivered {
				hint := "check the provider with 'accessctl provider get " + out.Provider + "'"
				if out.Answer != "" {
					hint = "the peer answered: " + out.Answer + "; " + hint
				}
				return &cliError{code: exitError, msg: "not delivered through " + out.Provider + ": " + out.Error, hint: hint}
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(out)
			}
			fmt.Fprintf(c.ctl.stdout, "delivered through %s: %s\n", out.Provider, cell(out.Answer))
			return nil
		}),
	}
	cmd.Flags().StringVar(&to, "to", "", "recipient: an e-mail `address` or an E.164 number (required)")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// show prints one provider in detail: never a secret.
func (c providerCmds) show(p api.Provider) error {
	if c.ctl.isJSON() {
		return c.ctl.printJSON(p)
	}
	tw := c.ctl.table()
	fmt.Fprintf(tw, "id:\t%s\n", cell(p.ID))
	fmt.Fprintf(tw, "name:\t%s\n", p.Name)
	fmt.Fprintf(tw, "category:\t%s\n", p.Category)
	fmt.Fprintf(tw, "default:\t%s\n", yesOrNo(p.Default))
	fmt.Fprintf(tw, "type:\t%s\n", p.Type)
	fmt.Fprintf(tw, "endpoint:\t%s\n", cell(endpoint(p)))
	if p.ClientID != "" {
		fmt.Fprintf(tw, "client id:\t%s\n", p.ClientID)
	}
	fmt.Fprintf(tw, "secret:\t%s\n", setOrNot(p.ClientSecretSet))
	if p.From != "" {
		fmt.Fprintf(tw, "from:\t%s\n", p.From)
	}
	if p.Template != "" {
		fmt.Fprintf(tw, "template:\t%s\n", p.Template)
	}
	if p.AuthHeader != "" {
		fmt.Fprintf(tw, "auth header:\t%s\n", p.AuthHeader)
	}
	ca := "system roots"
	if p.CAPEM != "" {
		ca = "from --ca-file"
	}
	fmt.Fprintf(tw, "tls:\t%s (CA: %s)\n", tlsMode(p), ca)
	fmt.Fprintf(tw, "created:\t%s\n", fmtTime(p.CreatedAt))
	fmt.Fprintf(tw, "updated:\t%s\n", fmtTime(p.UpdatedAt))
	return tw.Flush()
}

func endpoint(p api.Provider) string {
	if p.URL != "" {
		return p.URL
	}
	if p.Host == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", p.Host, p.Port)
}

func yesOrNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (c providerCmds) setDefault() *cobra.Command {
	return &cobra.Command{
		Use:   "set-default ID|NAME",
		Short: "make a provider the default of its category: it delivers the codes of sign-ins through an application without a default of its own",
		Args:  exactArgs("ID|NAME"),
		RunE: c.ctl.runE(func(cmd *cobra.Command, args []string) error {
			var p api.Provider
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: route("/v1/providers", args[0]) + "/default", notFound: providerNotFound}, &p); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(p)
			}
			fmt.Fprintf(c.ctl.stdout, "provider %s (%s) now delivers %s codes by default\n", p.Name, p.ID, p.Category)
			return nil
		}),
	}
}

func setOrNot(b bool) string {
	if b {
		return "set"
	}
	return "not set"
}

func tlsMode(p api.Provider) string {
	switch {
	case p.DisableSSL:
		return "off (disableSsl)"
	case p.Type == api.ProviderSMTPS:
		return "implicit TLS"
	case p.Category == api.ProviderEmail:
		return "STARTTLS required"
	}
	return "HTTPS"
}
