package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/bounce"
	"github.com/mtaq/mtaq/internal/doctor"
)

func doctorCmd() *cobra.Command {
	var path, returnPath string
	var ips []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor DOMAIN",
		Short: "Check a sending domain's DNS: SPF, DKIM, DMARC, alignment, PTR, EHLO name, MTA-STS (record, policy, MX coverage), DANE, TLS-RPT",
		Long: `Ask DNS, through [delivery] dns_servers as delivery does, about what receivers
check for mail From DOMAIN, and print one line per check: PASS, WARN, FAIL or INFO,
what was found and, for WARN and FAIL, the record to publish.

SPF is evaluated for the return-path (MAIL FROM) domain, DOMAIN unless
--return-path-domain names another, for each --ip and each [[delivery.pool]]
source address; each pool address's PTR is checked against its pool's ehlo. DKIM selectors are the [[dkim]] keys for DOMAIN or a
parent; hostname is the EHLO name. Exit status 1 when any check FAILs, 0 otherwise.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := loadConfig(path)
			if err != nil {
				return &exitError{exitConfig, err}
			}
			if returnPath == "" {
				// The domain mtaq's own feedback loop would use for this sender.
				returnPath = bounce.Domains{BySender: c.Bounce.ReturnPathDomains, Default: c.Bounce.DefaultReturnPathDomain}.For(a[0])
			}
			res := doctor.NewResolver(c.Delivery.DNSServers)
			o := doctor.Options{Domain: a[0], ReturnPathDomain: returnPath, Hostname: c.Hostname, DKIM: dkimKeys(c),
				Sources: poolSources(c), FetchSTS: doctor.FetchSTS(res), DNSSEC: res, DANE: c.Delivery.DANE}
			for _, s := range ips {
				ip := net.ParseIP(s)
				if ip == nil {
					return usage("--ip %q is not an IP address", s)
				}
				o.IPs = append(o.IPs, ip)
			}
			return report(cmd.OutOrStdout(), asJSON, doctor.Run(cmd.Context(), res, o))
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (TOML); default $MTAQ_CONFIG, else /etc/mtaq/mtaq.toml, else built-in defaults")
	cmd.Flags().StringArrayVar(&ips, "ip", nil, "an outbound address mtaq sends from (repeatable)")
	cmd.Flags().StringVar(&returnPath, "return-path-domain", "", "the MAIL FROM domain, whose SPF and MX are checked (default: [bounce]'s return-path domain for DOMAIN, else DOMAIN)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of {check, status, detail, fix}")
	return cmd
}

// poolSources lists the [[delivery.pool]] addresses with the EHLO name
// each announces.
func poolSources(c conf.Config) []doctor.Source {
	var out []doctor.Source
	for _, p := range c.Delivery.Pools {
		ehlo := p.EHLO
		if ehlo == "" {
			ehlo = c.Hostname
		}
		for _, s := range p.SourceIPs {
			out = append(out, doctor.Source{Pool: p.Name, IP: net.ParseIP(s), EHLO: ehlo})
		}
	}
	return out
}

// dkimKeys reads each [[dkim]] key's public half; a key that cannot be
// read is still checked for its record.
func dkimKeys(c conf.Config) []doctor.DKIMKey {
	var out []doctor.DKIMKey
	for _, k := range c.DKIM {
		dk := doctor.DKIMKey{Domain: k.Domain, Selector: k.Selector}
		if s, err := conf.LoadDKIMKey(k.KeyFile); err != nil {
			dk.LoadErr = err
		} else {
			dk.Public = s.Public()
		}
		out = append(out, dk)
	}
	return out
}

// report prints rs as lines or, with asJSON, as one JSON array, and
// returns the exit status: exitFailure naming the FAILed checks, nil when
// none did.
func report(w io.Writer, asJSON bool, rs []doctor.Result) error {
	var err error
	if asJSON {
		err = printJSON(w, rs)
	} else {
		err = doctor.Print(w, rs)
	}
	if err != nil {
		return &exitError{exitIOErr, err}
	}
	var failed []string
	for _, r := range rs {
		if r.Status == doctor.Fail {
			failed = append(failed, r.Check)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &exitError{exitFailure, errors.New(fmt.Sprint(len(failed), " failed: ", strings.Join(failed, ", ")))}
}
