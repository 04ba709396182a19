package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

// keyCmds is `accessctl keys`: token signing keys and the keys of sealed fields.
type keyCmds struct{ ctl *ctl }

func (c keyCmds) command() *cobra.Command {
	return c.ctl.noun("keys", "list and rotate token signing keys; rotate the keys that protect sealed fields",
		c.list(),
		c.rotate(),
		c.rotateFields(),
	)
}

func (c keyCmds) list() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list the token signing keys: active, next (published, not yet signing) and retired",
		Args:  exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			var keys []api.SigningKey
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodGet, path: "/v1/keys"}, &keys); err != nil {
				return err
			}
			return c.print(keys)
		}),
	}
}

func (c keyCmds) rotate() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "make the published next signing key active now",
		Long: `rotate makes the next signing key, already published in JWKS, sign from now
on, and publishes a new next key. The old key stops signing but stays in
JWKS until every token it signed has expired, so no token is cut short.
Keys also rotate by themselves every tokens.key_rotation.`,
		Args: exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			var keys []api.SigningKey
			if _, err := c.ctl.cl.do(cmd.Context(), call{method: http.MethodPost, path: "/v1/keys/rotate"}, &keys); err != nil {
				return err
			}
			return c.print(keys)
		}),
	}
}

func (c keyCmds) print(keys []api.SigningKey) error {
	if c.ctl.isJSON() {
		return c.ctl.printJSON(keys)
	}
	tw := c.ctl.table()
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tSIGNS FROM\tIN JWKS UNTIL")
	for _, k := range keys {
		until := "-"
		if !k.PublishedUntil.IsZero() {
			until = k.PublishedUntil.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, k.CreatedAt.Format(time.RFC3339), k.ActivatesAt.Format(time.RFC3339), until)
	}
	return tw.Flush()
}

func (c keyCmds) rotateFields() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-fields",
		Short: "start a new field-key term, re-seal every sealed field under it, retire the old terms",
		Long: `rotate-fields starts a new field-key term, re-seals every sealed field (TOTP
seeds, signing private keys) under it while accessd keeps serving, and then
retires every older term: their keys open nothing in the live store any
more. An interrupted rotation is finished by running it again. Backups
taken before keep their own terms and still restore.`,
		Args: exactArgs(),
		RunE: c.ctl.runE(func(cmd *cobra.Command, _ []string) error {
			var r api.FieldRotation
			if _, err := c.ctl.cl.longCall(cmd.Context(), call{method: http.MethodPost, path: "/v1/keys/rotate-fields"}, &r, time.Hour); err != nil {
				return err
			}
			if c.ctl.isJSON() {
				return c.ctl.printJSON(r)
			}
			tw := c.ctl.table()
			fmt.Fprintf(tw, "active term:\t%d\n", r.Term)
			fmt.Fprintf(tw, "retired:\tterms 1-%d (they open nothing any more)\n", r.Retired)
			fmt.Fprintf(tw, "re-sealed:\t%d fields in %d records\n", r.Resealed, r.Records)
			if r.Resumed {
				fmt.Fprintf(tw, "note:\tfinished a rotation that had been interrupted\n")
			}
			return tw.Flush()
		}),
	}
}
