package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/coldcase-dfir/coldcase/snapshot"
	sawsp "github.com/coldcase-dfir/coldcase/snapshot/aws"
	slibvirt "github.com/coldcase-dfir/coldcase/snapshot/libvirt"
	sopenstack "github.com/coldcase-dfir/coldcase/snapshot/openstack"
)

func init() { verbs = append(verbs, newAcquireCmd) }

// acquireFlags are common to every provider.
type acquireFlags struct {
	dir     string
	caseID  string
	opts    snapshot.Options
	signKey string
	output  string
}

// id returns the case id, naming one from the time when none was given,
// so that cloud-side tags and lock reasons carry the same id.
func (f *acquireFlags) id() string {
	if f.caseID == "" {
		f.caseID = "case-" + time.Now().UTC().Format("20060102T150405Z")
	}
	return f.caseID
}

func (f *acquireFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.dir, "dir", "d", "", "case folder for the evidence and manifest.json (required)")
	fl.StringVar(&f.caseID, "case", "", "case id recorded in the manifest (default: case-<UTC time>)")
	fl.BoolVar(&f.opts.Quarantine, "quarantine", false, "cut the network, pause and lock the VM first")
	fl.BoolVar(&f.opts.Memory, "memory", false, "capture memory before the disk, where the platform can")
	fl.BoolVar(&f.opts.KeepPaused, "keep-paused", false, "leave a VM paused for the capture paused afterwards")
	fl.BoolVar(&f.opts.Cleanup, "cleanup", false, "delete the temporary snapshots/images in the cloud afterwards")
	fl.BoolVar(&f.opts.Plan, "plan", false, "dry run: print the steps, do nothing")
	fl.StringVar(&f.signKey, "sign-key", "", "ed25519 private key (PKCS#8 PEM, openssl genpkey -algorithm ed25519) to sign manifest.json")
	outputFlag(cmd, &f.output, "table", "json")
	cmd.MarkFlagRequired("dir")
}

func newAcquireCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acquire PROVIDER",
		Short: "Quarantine a suspect VM and bring its disks home with a chain-of-custody manifest",
		Long: `acquire looks up a VM, optionally quarantines it (network cut, paused, locked),
optionally captures its memory, snapshots its disks, downloads them into the case
folder while hashing them (sha256, md5) and checks the provider's own checksums.
Every step is recorded in CASE/manifest.json with its UTC time and request id;
a step the platform cannot do is recorded as "not supported". Ctrl-C leaves a
resumable partial download and a manifest that says "incomplete": run the same
command again to resume. Credentials and tokens are never written or logged.`,
		Example: `  coldcase acquire libvirt --domain web01 -d case1 --quarantine --memory
  coldcase acquire openstack --os-cloud prod --server web01 -d case1 --quarantine --cleanup
  coldcase acquire aws --region eu-west-1 --instance i-0123456789abcdef0 -d case1 --plan
  coldcase verify case1`,
	}
	cmd.AddCommand(newAcquireLibvirtCmd(), newAcquireOpenStackCmd(), newAcquireAWSCmd())
	return cmd
}

func newAcquireLibvirtCmd() *cobra.Command {
	var f acquireFlags
	var cfg slibvirt.Config
	cmd := &cobra.Command{
		Use:   "libvirt --domain NAME -d CASE",
		Short: "Acquire a libvirt/QEMU domain (memory-only ELF dump, backup job of every disk)",
		Example: `  coldcase acquire libvirt --domain web01 -d case1 --quarantine --memory
  coldcase acquire libvirt --uri qemu:///system --domain 0b6a…-uuid -d case1 --plan`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Domain == "" {
				return withCode(exitUsage, errors.New("--domain is required"))
			}
			p := slibvirt.New(cfg)
			defer p.Close()
			return runAcquire(cmd, &f, p)
		},
	}
	cmd.Flags().StringVar(&cfg.URI, "uri", "qemu:///system", "libvirt URI (a local daemon: the dump and backup are read from this host)")
	cmd.Flags().StringVar(&cfg.Domain, "domain", "", "domain name or UUID")
	cmd.Flags().StringVar(&cfg.StagingDir, "staging-dir", "", "folder where libvirt writes the dump and backup before they are moved into the case")
	cmd.Flags().StringVar(&cfg.Method, "method", "", `how disks are copied: "backup" (push-mode backup job; libvirt >= 6, QEMU >= 4.2), "external-snapshot" (disk-only snapshot onto overlays in the staging folder, the original files read in place, then block-commit and pivot back), or empty: backup, falling back to external-snapshot when the daemon refuses it`)
	f.add(cmd)
	return cmd
}

func newAcquireOpenStackCmd() *cobra.Command {
	var f acquireFlags
	var cfg sopenstack.Config
	cmd := &cobra.Command{
		Use:   "openstack --server ID|NAME -d CASE",
		Short: "Acquire an OpenStack server through Nova, Neutron, Cinder and Glance",
		Long: `Authentication comes from clouds.yaml (--os-cloud, or OS_CLOUD) or from the
OS_* variables, application credentials included.`,
		Example: `  coldcase acquire openstack --os-cloud prod --server web01 -d case1 --quarantine
  OS_CLOUD=prod coldcase acquire openstack --server 5e2b…-uuid -d case1 --cleanup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Server == "" {
				return withCode(exitUsage, errors.New("--server is required"))
			}
			if cfg.Cloud == "" {
				cfg.Cloud = os.Getenv("OS_CLOUD")
			}
			cfg.CaseID = f.id()
			var p snapshot.Provider
			if f.opts.Plan {
				p = sopenstack.New(cfg, nil) // --plan contacts nothing
			} else {
				c, err := sopenstack.Connect(cmd.Context(), cfg.Cloud)
				if err != nil {
					return err
				}
				p = sopenstack.New(cfg, c)
			}
			return runAcquire(cmd, &f, p)
		},
	}
	cmd.Flags().StringVar(&cfg.Cloud, "os-cloud", "", "clouds.yaml entry (default $OS_CLOUD; none: OS_* variables)")
	cmd.Flags().StringVar(&cfg.Server, "server", "", "server id or exact name")
	cmd.Flags().StringVar(&cfg.SecurityGroup, "security-group", "coldcase-quarantine", "quarantine security group (created without rules)")
	cmd.Flags().StringVar(&cfg.LockReason, "lock-reason", "", "reason recorded on the lock (default names the case)")
	f.add(cmd)
	return cmd
}

func newAcquireAWSCmd() *cobra.Command {
	var f acquireFlags
	var cfg sawsp.Config
	cmd := &cobra.Command{
		Use:   "aws --region R --instance i-… -d CASE",
		Short: "Acquire an EC2 instance's EBS volumes (snapshots read with the EBS direct APIs)",
		Long: `Credentials come from the SDK's default chain (environment, shared config and
profiles, SSO, instance role).`,
		Example: `  coldcase acquire aws --region eu-west-1 --instance i-0123456789abcdef0 -d case1 --quarantine --termination-protection
  coldcase acquire aws --region eu-west-1 --instance i-0123456789abcdef0 -d case1 --workers 16 --cleanup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Instance == "" || cfg.Region == "" {
				return withCode(exitUsage, errors.New("--region and --instance are required"))
			}
			cfg.CaseID = f.id()
			p, err := sawsp.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return runAcquire(cmd, &f, p)
		},
	}
	cmd.Flags().StringVar(&cfg.Region, "region", "", "AWS region")
	cmd.Flags().StringVar(&cfg.Instance, "instance", "", "EC2 instance id (i-…)")
	cmd.Flags().StringVar(&cfg.EndpointURL, "endpoint-url", "", "replace the EC2, EBS and STS endpoints (private endpoints, tests)")
	cmd.Flags().BoolVar(&cfg.TerminationProtection, "termination-protection", false, "turn termination protection on in quarantine")
	cmd.Flags().StringVar(&cfg.SecurityGroup, "security-group", "coldcase-isolation", "isolation security group (created without rules)")
	cmd.Flags().IntVar(&cfg.Workers, "workers", 8, "parallel block downloads")
	f.add(cmd)
	return cmd
}

// runAcquire runs a provider into the case folder. Ctrl-C cancels the
// context: the current download stops, its partial file and an
// "incomplete" manifest stay for a resume.
func runAcquire(cmd *cobra.Command, f *acquireFlags, p snapshot.Provider) error {
	if err := checkFormat(f.output, "table", "json"); err != nil {
		return err
	}
	a, err := snapshot.NewAcquisition(f.dir, f.caseID, version, f.opts)
	if err != nil {
		return err
	}
	if f.signKey != "" {
		key, err := snapshot.ReadKeyFile(f.signKey)
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("--sign-key: %w", err))
		}
		if _, err := snapshot.ParsePrivateKey(key); err != nil {
			return withCode(exitUsage, fmt.Errorf("--sign-key: %w", err))
		}
		a.SignWith(key)
	}
	a.Log = func(act snapshot.Action) {
		e := log.WithField("step", act.Step).WithField("result", act.Result)
		if act.RequestID != "" {
			e = e.WithField("request_id", act.RequestID)
		}
		if act.Error != "" {
			e = e.WithField("error", act.Error)
		}
		if act.Result == snapshot.ResultError {
			e.Warn(escape(act.Detail))
		} else {
			e.Info(escape(act.Detail))
		}
	}
	a.Progress = func(name string, total int64) (func(int64), func()) {
		bar := newByteProgress(total, name)
		return bar.Add, bar.Finish
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = snapshot.Acquire(ctx, p, a)
	m := a.Manifest()
	if werr := printManifest(cmd.OutOrStdout(), f.output, &m); werr != nil && err == nil {
		err = werr
	}
	if err != nil && m.Status == snapshot.StatusIncomplete {
		log.Warnf("interrupted: %s says incomplete; run the same command again to resume", snapshot.ManifestName)
	}
	return err
}

func printManifest(w io.Writer, format string, m *snapshot.Manifest) error {
	if format == "json" {
		return writeJSON(w, m)
	}
	rows := [][]string{}
	for _, act := range m.Actions {
		res := act.Result
		if act.Error != "" {
			res += ": " + act.Error
		}
		rows = append(rows, []string{act.Time.Format("15:04:05Z"), string(act.Step), act.Detail, act.RequestID, res})
	}
	if err := writeTable(w, []string{"time", "step", "action", "request id", "result"}, rows); err != nil {
		return err
	}
	if len(m.Evidence) > 0 {
		rows = rows[:0]
		for _, e := range m.Evidence {
			rows = append(rows, []string{e.Path, fmt.Sprint(e.Size), e.SHA256, fmt.Sprint(e.Complete)})
		}
		if err := writeTable(w, []string{"evidence", "size", "sha256", "complete"}, rows); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "case %s: %s\n", escape(m.CaseID), m.Status)
	return err
}
