package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/accessd/accessd/oauth/api"
)

func (c *ctl) keysCmd() *cobra.Command {
	return c.noun("keys", "rotate the keys that protect sealed fields",
		c.keysRotateFields(),
	)
}

func (c *ctl) keysRotateFields() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-fields",
		Short: "start a new field-key term, re-seal every sealed field under it, retire the old terms",
		Long: `rotate-fields starts a new field-key term, re-seals every sealed field (TOTP
seeds, signing private keys) under it while accessd keeps serving, and then
retires every older term: their keys open nothing in the live store any
more. An interrupted rotation is finished by running it again. Backups
taken before keep their own terms and still restore.`,
		Args: exactArgs(),
		RunE: c.runE(func(cmd *cobra.Command, _ []string) error {
			var r api.FieldRotation
			if _, err := c.cl.longCall(cmd.Context(), call{method: http.MethodPost, path: "/v1/keys/rotate-fields"}, &r, time.Hour); err != nil {
				return err
			}
			if c.isJSON() {
				return c.printJSON(r)
			}
			tw := c.table()
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
