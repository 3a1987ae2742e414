package aws

// Fakes of EC2 (query protocol, XML), STS and EBS direct (REST, JSON and
// binary), written from the AWS API references. They hold one instance with
// one volume whose content the test knows, and inject the faults the
// downloader must survive or report.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	fakeInstance = "i-0123456789abcdef0"
	fakeVolume   = "vol-0aaaabbbbccccdddd"
	fakeSnapshot = "snap-0fedcba987654321"
	fakeVPC      = "vpc-0c01dca5e"
	blockSize    = 512 << 10
)

type fakeAWS struct {
	t      *testing.T
	mu     sync.Mutex
	blocks map[int32][]byte // the volume's non-empty blocks
	volGiB int64
	page   int // blocks per ListSnapshotBlocks page

	// Faults.
	wrongChecksum map[int32]bool // answer with a checksum of other data
	throttle      map[int32]int  // this many 429s before the block is served
	expired       map[int32]bool // the first token listed for the block has expired

	// What the client did.
	calls       []string
	eniGroups   map[string][]string
	snapTags    map[string]string
	termProtect bool
	deleted     []string
	refreshed   map[int32]bool
	throttled   int
	reqs        int
}

func newFakeAWS(t *testing.T) *fakeAWS {
	return &fakeAWS{t: t, blocks: map[int32][]byte{}, volGiB: 1, page: 3,
		wrongChecksum: map[int32]bool{}, throttle: map[int32]int{}, expired: map[int32]bool{},
		eniGroups: map[string][]string{}, snapTags: map[string]string{}, refreshed: map[int32]bool{}}
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs++
	if strings.HasPrefix(r.URL.Path, "/snapshots/") {
		f.ebs(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	action := r.Form.Get("Action")
	f.calls = append(f.calls, action)
	if action == "GetCallerIdentity" {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>
<Arn>arn:aws:iam::123456789012:user/responder</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>
</GetCallerIdentityResult><ResponseMetadata><RequestId>sts-req-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
		return
	}
	body, ok := f.ec2(action, r.Form)
	if !ok {
		w.WriteHeader(400)
		fmt.Fprintf(w, `<Response><Errors><Error><Code>InvalidAction</Code><Message>fake EC2 does not know %s</Message></Error></Errors><RequestID>err-1</RequestID></Response>`, action)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", fmt.Sprintf("ec2-%s-%d", action, f.reqs))
	fmt.Fprintf(w, `<%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>ec2-%s-%d</requestId>%s</%sResponse>`, action, action, f.reqs, body, action)
}

func (f *fakeAWS) ec2(action string, form url.Values) (string, bool) {
	switch action {
	case "DescribeInstances":
		if form.Get("InstanceId.1") != fakeInstance {
			return "<reservationSet/>", true
		}
		return `<reservationSet><item><reservationId>r-1</reservationId><instancesSet><item>
<instanceId>` + fakeInstance + `</instanceId><vpcId>` + fakeVPC + `</vpcId><instanceState><code>16</code><name>running</name></instanceState>
<networkInterfaceSet><item><networkInterfaceId>eni-0aaa</networkInterfaceId></item><item><networkInterfaceId>eni-0bbb</networkInterfaceId></item></networkInterfaceSet>
<blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><volumeId>` + fakeVolume + `</volumeId><status>attached</status></ebs></item></blockDeviceMapping>
</item></instancesSet></item></reservationSet>`, true
	case "DescribeSecurityGroups":
		return "<securityGroupInfo/>", true
	case "CreateSecurityGroup":
		if form.Get("VpcId") != fakeVPC {
			f.t.Errorf("security group created in VPC %q", form.Get("VpcId"))
		}
		return "<return>true</return><groupId>sg-0150</groupId>", true
	case "RevokeSecurityGroupEgress":
		return "<return>true</return>", true
	case "ModifyNetworkInterfaceAttribute":
		var groups []string
		for i := 1; form.Get("SecurityGroupId."+strconv.Itoa(i)) != ""; i++ {
			groups = append(groups, form.Get("SecurityGroupId."+strconv.Itoa(i)))
		}
		f.eniGroups[form.Get("NetworkInterfaceId")] = groups
		return "<return>true</return>", true
	case "ModifyInstanceAttribute":
		f.termProtect = form.Get("DisableApiTermination.Value") == "true"
		return "<return>true</return>", true
	case "CreateSnapshot":
		for i := 1; form.Get("TagSpecification.1.Tag."+strconv.Itoa(i)+".Key") != ""; i++ {
			f.snapTags[form.Get("TagSpecification.1.Tag."+strconv.Itoa(i)+".Key")] = form.Get("TagSpecification.1.Tag." + strconv.Itoa(i) + ".Value")
		}
		return `<snapshotId>` + fakeSnapshot + `</snapshotId><volumeId>` + form.Get("VolumeId") + `</volumeId><status>pending</status><volumeSize>1</volumeSize>`, true
	case "DescribeSnapshots":
		// Pending on the first poll, completed after.
		status := "completed"
		if n := strings.Count(strings.Join(f.calls, " "), "DescribeSnapshots"); n == 1 {
			status = "pending"
		}
		return `<snapshotSet><item><snapshotId>` + fakeSnapshot + `</snapshotId><status>` + status + `</status><progress>100%</progress></item></snapshotSet>`, true
	case "DeleteSnapshot":
		f.deleted = append(f.deleted, form.Get("SnapshotId"))
		return "<return>true</return>", true
	}
	return "", false
}

func (f *fakeAWS) token(idx int32) string {
	if f.expired[idx] && !f.refreshed[idx] {
		return fmt.Sprintf("tok-%d-old", idx)
	}
	return fmt.Sprintf("tok-%d", idx)
}

func ebsError(w http.ResponseWriter, status int, typ, reason, msg string) {
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"Message": msg, "Reason": reason})
}

func (f *fakeAWS) ebs(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/snapshots/"), "/")
	if len(parts) < 2 || parts[0] != fakeSnapshot || parts[1] != "blocks" {
		ebsError(w, 404, "ResourceNotFoundException", "SNAPSHOT_NOT_FOUND", "no such snapshot")
		return
	}
	q := r.URL.Query()
	w.Header().Set("x-amzn-RequestId", fmt.Sprintf("ebs-req-%d", f.reqs))
	if len(parts) == 2 { // ListSnapshotBlocks
		f.calls = append(f.calls, "ListSnapshotBlocks")
		var idx []int
		for i := range f.blocks {
			idx = append(idx, int(i))
		}
		sort.Ints(idx)
		start := 0
		if s := q.Get("startingBlockIndex"); s != "" {
			start, _ = strconv.Atoi(s)
		}
		if s := q.Get("pageToken"); s != "" {
			start, _ = strconv.Atoi(strings.TrimPrefix(s, "page-"))
		}
		max := f.page
		if s := q.Get("maxResults"); s != "" {
			max, _ = strconv.Atoi(s)
		}
		type block struct {
			BlockIndex int32
			BlockToken string
		}
		out := struct {
			Blocks     []block
			BlockSize  int32
			VolumeSize int64
			ExpiryTime float64
			NextToken  string `json:",omitempty"`
		}{BlockSize: blockSize, VolumeSize: f.volGiB, ExpiryTime: 1.9e9, Blocks: []block{}}
		for _, i := range idx {
			if i < start {
				continue
			}
			if len(out.Blocks) == max {
				out.NextToken = fmt.Sprintf("page-%d", i)
				break
			}
			// A listing from a block index is how a client refreshes a token.
			if q.Get("startingBlockIndex") != "" && i == start && f.expired[int32(i)] {
				f.refreshed[int32(i)] = true
			}
			out.Blocks = append(out.Blocks, block{int32(i), f.token(int32(i))})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
		return
	}
	// GetSnapshotBlock
	n, err := strconv.Atoi(parts[2])
	data, ok := f.blocks[int32(n)]
	if err != nil || !ok {
		ebsError(w, 400, "ValidationException", "INVALID_BLOCK", "no such block")
		return
	}
	idx := int32(n)
	if f.throttle[idx] > 0 {
		f.throttle[idx]--
		f.throttled++
		ebsError(w, 429, "RequestThrottledException", "ACCOUNT_THROTTLED", "slow down")
		return
	}
	if q.Get("blockToken") != f.token(idx) || strings.HasSuffix(q.Get("blockToken"), "-old") {
		ebsError(w, 400, "ValidationException", "INVALID_BLOCK_TOKEN", "The block token has expired.")
		return
	}
	sumOf := data
	if f.wrongChecksum[idx] {
		sumOf = append([]byte{1}, data[1:]...)
	}
	sum := sha256.Sum256(sumOf)
	w.Header().Set("x-amz-Checksum", base64.StdEncoding.EncodeToString(sum[:]))
	w.Header().Set("x-amz-Checksum-Algorithm", "SHA256")
	w.Header().Set("x-amz-Data-Length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(data)
}
