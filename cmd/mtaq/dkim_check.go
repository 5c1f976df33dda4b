package main

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/doctor"
)

func dkimCheckCmd() *cobra.Command {
	var path, domain, selector string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check --domain D --selector S",
		Short: "Look up a selector's DKIM record and compare it with the configured key",
		Long: `Look up S._domainkey.D through [delivery] dns_servers and say whether it exists,
parses, and publishes the key of the [[dkim]] entry with that domain and selector.
Exit status 0 when it does, 1 otherwise.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if domain == "" || selector == "" {
				return usage("--domain and --selector are required")
			}
			c, err := loadConfig(path)
			if err != nil {
				return &exitError{exitConfig, err}
			}
			k := doctor.DKIMKey{Domain: domain, Selector: selector,
				LoadErr: errors.New("no [[dkim]] key with this domain and selector in the configuration")}
			for _, ck := range dkimKeys(c) {
				if strings.EqualFold(ck.Domain, domain) && strings.EqualFold(ck.Selector, selector) {
					k = ck
				}
			}
			r := doctor.CheckDKIM(cmd.Context(), doctor.NewResolver(c.Delivery.DNSServers), k)
			if err := report(cmd.OutOrStdout(), asJSON, []doctor.Result{r}); err != nil {
				return err
			}
			if r.Status != doctor.Pass { // a WARN (key unreadable, not configured) is not a pass either
				return &exitError{exitFailure, errors.New(r.Check + ": " + r.Detail)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (TOML); default $MTAQ_CONFIG, else /etc/mtaq/mtaq.toml, else built-in defaults")
	cmd.Flags().StringVar(&domain, "domain", "", "the signing domain (d=)")
	cmd.Flags().StringVar(&selector, "selector", "", "the selector (s=)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of {check, status, detail, fix}")
	return cmd
}
