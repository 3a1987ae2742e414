// Package aws acquires an EC2 instance's EBS volumes: an isolation
// security group on every network interface, optional termination
// protection, a tagged snapshot of each volume, and a download of each
// snapshot through the EBS direct APIs (ListSnapshotBlocks,
// GetSnapshotBlock) by parallel workers. Every block's SHA-256 is checked
// against the checksum the API sends with it; blocks the snapshot does not
// hold are written as holes, so the raw image is as sparse as the volume.
package aws

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/coldcase-dfir/coldcase/snapshot"
)

// Config names the instance and how to reach the APIs.
type Config struct {
	Region   string
	Instance string // i-…
	// EndpointURL replaces the EC2, EBS and STS endpoints (tests, private
	// endpoints).
	EndpointURL string
	// TerminationProtection turns on DisableApiTermination in quarantine.
	TerminationProtection bool
	// SecurityGroup is the isolation group's name (default
	// "coldcase-isolation"); created without rules when missing.
	SecurityGroup string
	Workers       int           // parallel block downloads (default 8)
	MaxAttempts   int           // per API call, throttling included (default 10)
	MaxBackoff    time.Duration // between retries (default 20s)
	PollInterval  time.Duration // snapshot state polling (default 5s)
	CaseID        string        // tagged on snapshots
}

// Provider implements snapshot.Provider for AWS.
type Provider struct {
	cfg       Config
	ec2       *ec2.Client
	ebs       *ebs.Client
	sts       *sts.Client
	vpc       string
	enis      []string
	volumes   []volume
	snapshots []string
	reused    bool // snapshots of an interrupted run: partial downloads resume
}

type volume struct{ id, device string }

// New builds clients from the default credential chain (environment,
// shared config, instance role). Credentials stay inside the SDK.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.SecurityGroup == "" {
		cfg.SecurityGroup = "coldcase-isolation"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 20 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	ac, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region),
		config.WithRetryer(func() aws.Retryer {
			// No client-side retry quota: a long download under throttling
			// must keep backing off, not give up when the bucket empties.
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = cfg.MaxBackoff
				o.RateLimiter = ratelimit.None
			})
		}))
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	var ep *string
	if cfg.EndpointURL != "" {
		ep = aws.String(cfg.EndpointURL)
	}
	return &Provider{
		cfg: cfg,
		ec2: ec2.NewFromConfig(ac, func(o *ec2.Options) { o.BaseEndpoint = ep }),
		ebs: ebs.NewFromConfig(ac, func(o *ebs.Options) { o.BaseEndpoint = ep }),
		sts: sts.NewFromConfig(ac, func(o *sts.Options) { o.BaseEndpoint = ep }),
	}, nil
}

func (p *Provider) Name() string { return "aws" }

func (p *Provider) Describe(st snapshot.Step, o snapshot.Options) string {
	switch st {
	case snapshot.StepLookup:
		return fmt.Sprintf("describe instance %s in %s: network interfaces, EBS volumes", p.cfg.Instance, p.cfg.Region)
	case snapshot.StepQuarantine:
		s := fmt.Sprintf("security group %q (no rules) on every network interface", p.cfg.SecurityGroup)
		if p.cfg.TerminationProtection {
			s += ", termination protection on"
		}
		return s + "; EC2 cannot pause or lock an instance"
	case snapshot.StepSnapshot:
		return "CreateSnapshot of every EBS volume, tagged with the case"
	case snapshot.StepWait:
		return "poll DescribeSnapshots until every snapshot is completed"
	case snapshot.StepDownload:
		return fmt.Sprintf("EBS direct ListSnapshotBlocks/GetSnapshotBlock, %d workers, SHA-256 of every block checked, holes kept sparse", p.cfg.Workers)
	case snapshot.StepCleanup:
		return "DeleteSnapshot of the snapshots this run made"
	}
	return "" // memory: EC2 has no memory capture
}

func requestID(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}

func (p *Provider) Lookup(ctx context.Context, a *snapshot.Acquisition) error {
	if id, err := p.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
		a.SetOperator(aws.ToString(id.Arn), aws.ToString(id.Account))
		a.Record("caller identity "+aws.ToString(id.Arn), requestID(id.ResultMetadata), nil)
	} else {
		a.Record("caller identity", "", err)
	}
	out, err := p.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{p.cfg.Instance}})
	if err != nil {
		a.Record("describe instance "+p.cfg.Instance, "", err)
		return err
	}
	rid := requestID(out.ResultMetadata)
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		err := fmt.Errorf("instance %s: %d reservations in the answer", p.cfg.Instance, len(out.Reservations))
		a.Record("describe instance "+p.cfg.Instance, rid, err)
		return err
	}
	in := out.Reservations[0].Instances[0]
	p.vpc = aws.ToString(in.VpcId)
	for _, n := range in.NetworkInterfaces {
		p.enis = append(p.enis, aws.ToString(n.NetworkInterfaceId))
	}
	var ids []string
	for _, m := range in.BlockDeviceMappings {
		if m.Ebs == nil || m.Ebs.VolumeId == nil {
			continue
		}
		p.volumes = append(p.volumes, volume{id: *m.Ebs.VolumeId, device: aws.ToString(m.DeviceName)})
		ids = append(ids, *m.Ebs.VolumeId)
	}
	state := ""
	if in.State != nil {
		state = string(in.State.Name)
	}
	a.SetSource(func(s *snapshot.Source) {
		s.Region, s.Endpoint, s.InstanceID, s.Volumes = p.cfg.Region, p.cfg.EndpointURL, aws.ToString(in.InstanceId), ids
	})
	a.Record(fmt.Sprintf("instance %s (%s) in %s: %d network interfaces, volumes %s", aws.ToString(in.InstanceId), state, p.vpc, len(p.enis), strings.Join(ids, ", ")), rid, nil)
	if len(p.volumes) == 0 {
		return errors.New("instance has no EBS volume")
	}
	return nil
}

func (p *Provider) Quarantine(ctx context.Context, a *snapshot.Acquisition) error {
	sg, err := p.isolationGroup(ctx, a)
	if err != nil {
		return err
	}
	for _, eni := range p.enis {
		out, err := p.ec2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
			NetworkInterfaceId: aws.String(eni), Groups: []string{sg}})
		rid := ""
		if out != nil {
			rid = requestID(out.ResultMetadata)
		}
		a.Record(fmt.Sprintf("network interface %s: security groups replaced by %s", eni, sg), rid, err)
		if err != nil {
			return err
		}
	}
	if p.cfg.TerminationProtection {
		out, err := p.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(p.cfg.Instance), DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(true)}})
		rid := ""
		if out != nil {
			rid = requestID(out.ResultMetadata)
		}
		a.Record("termination protection on", rid, err)
		if err != nil {
			return err
		}
	}
	a.Record("pause the instance (stopping would lose its memory)", "", snapshot.ErrNotSupported)
	a.Record("lock the instance", "", snapshot.ErrNotSupported)
	return nil
}

// isolationGroup finds or creates the isolation group in the instance's
// VPC, and removes the default allow-all egress rule of a new one.
func (p *Provider) isolationGroup(ctx context.Context, a *snapshot.Acquisition) (string, error) {
	d, err := p.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("group-name"), Values: []string{p.cfg.SecurityGroup}},
		{Name: aws.String("vpc-id"), Values: []string{p.vpc}},
	}})
	if err != nil {
		a.Record("look up security group "+p.cfg.SecurityGroup, "", err)
		return "", err
	}
	if len(d.SecurityGroups) > 0 {
		g := d.SecurityGroups[0]
		if len(g.IpPermissions) > 0 || len(g.IpPermissionsEgress) > 0 {
			err := fmt.Errorf("security group %s (%s) has rules; an isolation group must have none", p.cfg.SecurityGroup, aws.ToString(g.GroupId))
			a.Record("check isolation group", requestID(d.ResultMetadata), err)
			return "", err
		}
		a.Record("isolation group "+aws.ToString(g.GroupId)+" exists without rules", requestID(d.ResultMetadata), nil)
		return aws.ToString(g.GroupId), nil
	}
	c, err := p.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(p.cfg.SecurityGroup), VpcId: aws.String(p.vpc),
		Description: aws.String("coldcase forensic isolation: no traffic in or out"),
	})
	if err != nil {
		a.Record("create security group "+p.cfg.SecurityGroup, "", err)
		return "", err
	}
	id := aws.ToString(c.GroupId)
	a.Record("created isolation group "+id, requestID(c.ResultMetadata), nil)
	r, err := p.ec2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(id),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
	rid := ""
	if r != nil {
		rid = requestID(r.ResultMetadata)
	}
	a.Record("revoke the default egress rule of "+id, rid, err)
	return id, err
}

func (p *Provider) Memory(ctx context.Context, a *snapshot.Acquisition) error {
	return snapshot.ErrNotSupported
}

func (p *Provider) Snapshot(ctx context.Context, a *snapshot.Acquisition) error {
	if prev := a.Previous(); prev != nil && prev.Source.InstanceID == p.cfg.Instance && len(prev.Source.Snapshots) == len(p.volumes) {
		// Snapshots are immutable: the interrupted run's partial downloads
		// can resume from them.
		p.snapshots, p.reused = append([]string(nil), prev.Source.Snapshots...), true
		a.Record("reusing snapshots "+strings.Join(p.snapshots, ", ")+" of the interrupted run", "", nil)
		return nil
	}
	for _, v := range p.volumes {
		out, err := p.ec2.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{
			VolumeId:    aws.String(v.id),
			Description: aws.String(fmt.Sprintf("coldcase case %s: %s %s of %s", p.cfg.CaseID, v.device, v.id, p.cfg.Instance)),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSnapshot, Tags: []types.Tag{
				{Key: aws.String("coldcase:case"), Value: aws.String(p.cfg.CaseID)},
				{Key: aws.String("coldcase:instance"), Value: aws.String(p.cfg.Instance)},
				{Key: aws.String("coldcase:device"), Value: aws.String(v.device)},
			}}},
		})
		if err != nil {
			a.Record("snapshot "+v.id, "", err)
			return err
		}
		id := aws.ToString(out.SnapshotId)
		p.snapshots = append(p.snapshots, id)
		a.SetSource(func(s *snapshot.Source) { s.Snapshots = append(s.Snapshots, id) })
		a.Record(fmt.Sprintf("snapshot %s of %s (%s)", id, v.id, v.device), requestID(out.ResultMetadata), nil)
	}
	return nil
}

func (p *Provider) Wait(ctx context.Context, a *snapshot.Acquisition) error {
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	for {
		out, err := p.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: p.snapshots})
		if err != nil {
			a.Record("describe snapshots", "", err)
			return err
		}
		done := 0
		for _, s := range out.Snapshots {
			switch s.State {
			case types.SnapshotStateCompleted:
				done++
			case types.SnapshotStateError:
				err := fmt.Errorf("snapshot %s failed: %s", aws.ToString(s.SnapshotId), aws.ToString(s.StateMessage))
				a.Record("wait for snapshots", requestID(out.ResultMetadata), err)
				return err
			}
		}
		if done == len(p.snapshots) {
			a.Record(fmt.Sprintf("%d snapshots completed", done), requestID(out.ResultMetadata), nil)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (p *Provider) Download(ctx context.Context, a *snapshot.Acquisition) error {
	for i, sid := range p.snapshots {
		name := p.volumes[i].id + ".raw"
		n, err := p.downloadSnapshot(ctx, a, sid, name, p.volumes[i])
		a.Record(fmt.Sprintf("EBS direct download of %s into %s: %d blocks, each SHA-256 checked", sid, name, n), "", err)
		if err != nil {
			return err
		}
	}
	return nil
}

// blockResult is one fetched block, handed in index order to the writer.
type blockResult struct {
	data []byte
	err  error
}

func (p *Provider) downloadSnapshot(ctx context.Context, a *snapshot.Acquisition, sid, name string, v volume) (int, error) {
	w, err := snapshot.CreateEvidence(a.Dir, name)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	if w.Offset() > 0 && !p.reused {
		// A partial download of another snapshot: start again.
		w.Discard()
		if w, err = snapshot.CreateEvidence(a.Dir, name); err != nil {
			return 0, err
		}
		defer w.Close()
	}
	list := func(next *string, start *int32) (*ebs.ListSnapshotBlocksOutput, error) {
		out, err := p.ebs.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(sid), NextToken: next, StartingBlockIndex: start})
		if err != nil {
			return nil, fmt.Errorf("list blocks of %s: %w", sid, err)
		}
		return out, nil
	}
	page, err := list(nil, nil)
	if err != nil {
		return 0, err
	}
	blockSize, volSize := int64(aws.ToInt32(page.BlockSize)), aws.ToInt64(page.VolumeSize)<<30
	if blockSize <= 0 || blockSize > 64<<20 || volSize <= 0 || volSize > 1<<50 || volSize%blockSize != 0 {
		return 0, fmt.Errorf("snapshot %s: block size %d, volume size %d bytes: not a usable layout", sid, blockSize, volSize)
	}
	if w.Offset()%blockSize != 0 || w.Offset() > volSize {
		return 0, fmt.Errorf("%s: partial download of %d bytes is not on a block boundary; remove it", name, w.Offset())
	}
	if w.Offset() > 0 {
		// Resume: list again from the first block the partial file lacks.
		if page, err = list(nil, aws.Int32(int32(w.Offset()/blockSize))); err != nil {
			return 0, err
		}
	}
	if a.Progress != nil {
		add, done := a.Progress(name, volSize)
		defer done()
		add(w.Offset())
		w.OnWrite(add)
	}
	fetched := 0
	for {
		n, err := p.fetchPage(ctx, w, sid, blockSize, volSize, page.Blocks)
		fetched += n
		if err != nil {
			if errors.Is(err, errChecksum) {
				w.Discard() // wrong data must not be resumed
			} else {
				a.AddEvidence(w.Partial())
			}
			return fetched, err
		}
		if page.NextToken == nil || *page.NextToken == "" {
			break
		}
		if page, err = list(page.NextToken, nil); err != nil {
			return fetched, err
		}
	}
	if err := w.WriteHole(volSize - w.Offset()); err != nil {
		return fetched, err
	}
	e, err := w.Commit()
	if err != nil {
		return fetched, err
	}
	e.Kind, e.Origin = "disk", fmt.Sprintf("%s %s snapshot %s", v.device, v.id, sid)
	e.Provider = []snapshot.Checksum{{Algorithm: "sha256 of each EBS block", Value: fmt.Sprintf("%d blocks of %d bytes", fetched, blockSize), Verified: true}}
	a.AddEvidence(e)
	return fetched, nil
}

var errChecksum = errors.New("block checksum mismatch")

// fetchPage downloads one page of blocks with parallel workers and writes
// them in index order (so the hashes stream), holes between them. At most
// 2×workers blocks are held in memory.
func (p *Provider) fetchPage(ctx context.Context, w *snapshot.EvidenceWriter, sid string, bs, volSize int64, blocks []ebstypes.Block) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var todo []ebstypes.Block
	last := int64(-1)
	for _, b := range blocks {
		idx := int64(aws.ToInt32(b.BlockIndex))
		if idx < 0 || (idx+1)*bs > volSize || idx <= last {
			return 0, fmt.Errorf("snapshot %s: block index %d out of order or beyond the volume", sid, idx)
		}
		last = idx
		if idx*bs < w.Offset() {
			continue // already in the partial file
		}
		todo = append(todo, b)
	}
	results := make([]chan blockResult, len(todo))
	for i := range results {
		results[i] = make(chan blockResult, 1)
	}
	window := make(chan struct{}, 2*p.cfg.Workers)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range p.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				data, err := p.fetchBlock(ctx, sid, todo[i], bs)
				results[i] <- blockResult{data, err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range todo {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()
	for i, b := range todo {
		var r blockResult
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return i, ctx.Err()
		}
		<-window
		if r.err != nil {
			return i, r.err
		}
		off := int64(aws.ToInt32(b.BlockIndex)) * bs
		if err := w.WriteHole(off - w.Offset()); err != nil {
			return i, err
		}
		if _, err := w.Write(r.data); err != nil {
			return i, err
		}
	}
	return len(todo), nil
}

// fetchBlock gets one block and checks it against its SHA-256. An expired
// block token is refreshed by listing from that block again.
func (p *Provider) fetchBlock(ctx context.Context, sid string, b ebstypes.Block, bs int64) ([]byte, error) {
	idx := aws.ToInt32(b.BlockIndex)
	token := aws.ToString(b.BlockToken)
	for attempt := 0; ; attempt++ {
		out, err := p.ebs.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: aws.String(sid), BlockIndex: aws.Int32(idx), BlockToken: aws.String(token)})
		var ve *ebstypes.ValidationException
		if errors.As(err, &ve) && ve.Reason == ebstypes.ValidationExceptionReasonInvalidBlockToken && attempt < 3 {
			l, lerr := p.ebs.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(sid), StartingBlockIndex: aws.Int32(idx), MaxResults: aws.Int32(100)})
			if lerr != nil {
				return nil, fmt.Errorf("block %d: refreshing expired token: %w", idx, lerr)
			}
			if len(l.Blocks) == 0 || aws.ToInt32(l.Blocks[0].BlockIndex) != idx {
				return nil, fmt.Errorf("block %d: no longer listed after its token expired", idx)
			}
			token = aws.ToString(l.Blocks[0].BlockToken)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", idx, err)
		}
		data, err := io.ReadAll(io.LimitReader(out.BlockData, bs+1))
		out.BlockData.Close()
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", idx, err)
		}
		if int64(len(data)) != bs {
			return nil, fmt.Errorf("block %d: %d bytes, want %d", idx, len(data), bs)
		}
		if out.ChecksumAlgorithm != ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256 {
			return nil, fmt.Errorf("block %d: checksum algorithm %q, want SHA256", idx, out.ChecksumAlgorithm)
		}
		sum := sha256.Sum256(data)
		if got := base64.StdEncoding.EncodeToString(sum[:]); got != aws.ToString(out.Checksum) {
			return nil, fmt.Errorf("snapshot %s block %d: %w: data hashes to %s, API says %s", sid, idx, errChecksum, got, aws.ToString(out.Checksum))
		}
		return data, nil
	}
}

func (p *Provider) Cleanup(ctx context.Context, a *snapshot.Acquisition) error {
	for _, sid := range p.snapshots {
		out, err := p.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(sid)})
		rid := ""
		if out != nil {
			rid = requestID(out.ResultMetadata)
		}
		a.Record("delete snapshot "+sid, rid, err)
		if err != nil {
			return err
		}
	}
	return nil
}
