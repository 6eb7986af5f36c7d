// Package status implements `bindsync status`: the fleet, each app cluster
// by each export, and whether its agent applied the schema main holds.
package status

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/cli/kube"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Row is one export of one app cluster, or one request of it that is not
// Ready (Request set, Export empty).
type Row struct {
	Cluster string `json:"cluster"`
	Export  string `json:"export,omitempty"`
	// Request is the request's name on a request row.
	Request  string `json:"request,omitempty"`
	Template string `json:"template,omitempty"`
	// MainSchema is the schema hash main holds (the export's spec.schemaHash).
	MainSchema string `json:"mainSchema"`
	// AgentSchema is the hash the agent reports it applied (as short as it
	// reports it); empty when it has not reported.
	AgentSchema string `json:"agentSchema,omitempty"`
	// AgentRevision is the revision the agent last applied.
	AgentRevision string `json:"agentRevision,omitempty"`
	// InSync: the agent applied this export's current schema.
	InSync bool `json:"inSync"`
	// State is InSync, NotInSync, or NotReported; RequestNotReady on a
	// request row.
	State string `json:"state"`
	// Reason and Message are the agent's ConsumerInSync condition's; on a
	// request row, the request's Ready condition's.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Since is when the condition last changed.
	Since *metav1.Time `json:"since,omitempty"`
	// Instances are the export's instance counts as the cluster's agent
	// reports them (status.instances): synced, failed, restored. Absent
	// when the agent syncs no instances of it (sync off, no control-plane
	// kubeconfig, or nothing reported yet).
	Instances *v1alpha1.InstanceCounts `json:"instances,omitempty"`
}

// States of a row.
const (
	StateInSync      = "InSync"
	StateNotInSync   = "NotInSync"
	StateNotReported = "NotReported"
	// StateRequestNotReady is a request whose Ready condition is not True:
	// the backend could not render, approve or apply it (its cluster's
	// folder failed, say). Such a request may have no export at all, so
	// it is listed on its own.
	StateRequestNotReady = "RequestNotReady"
)

type flags struct {
	cp      kube.Config
	cluster string
	output  string
	check   bool
}

// NewCommand returns `bindsync status`.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "status --kubeconfig CP [--cluster C] [-o json|yaml|wide|name]",
		Short: "The fleet: each app cluster and export, the schema main holds and the one its agent applied",
		Long: `status lists every APIServiceExport on the control plane: its cluster, the schema hash
main holds for it (spec.schemaHash), the hash and revision its agent reports
(ConsumerInSync, consumerRevision; written by agents run with --control-plane-kubeconfig),
whether the agent applied the current schema, and since when (the condition's
lastTransitionTime). NotReported means the agent has said nothing about the export yet.
SYNCED and FAILED (the last columns) count the export's instances the agent syncs with
the control plane, as it reports them (status.instances); "-" when it syncs none.
Every APIServiceExportRequest that is not Ready is listed too (EXPORT shows
request/<name>, STATE RequestNotReady, REASON its Ready reason, such as ApplyFailed),
so a cluster whose folder the backend could not apply is never left out.
-o wide adds the agent's revision and the condition's message; -o name prints
apiserviceexport.bindsync.io/NAME (apiserviceexportrequest.bindsync.io/NAME for a request).

Exit codes: 0 done (with --check: every export in sync and every request Ready); 1 with
--check, some export not in sync or not reported, or some request not Ready; 2 bad flags
or kubeconfig; 9 the control plane could not be reached; 11 it refused the list.`,
		Example: `  bindsync status --kubeconfig cp.kubeconfig
  bindsync status --cluster team-a -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), f, stdout)
		},
	}
	fl := cmd.Flags()
	f.cp.AddFlags(fl, "", "control plane")
	fl.StringVar(&f.cluster, "cluster", "", "only this app cluster")
	fl.StringVarP(&f.output, "output", "o", "", "json, yaml, wide or name instead of a table")
	fl.BoolVar(&f.check, "check", false, "exit 1 unless every export is in sync and every request is Ready")
	return cmd
}

func run(ctx context.Context, f *flags, stdout io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := kube.CheckFormat(f.output, kube.ObjectFormats...); err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	cp, err := f.cp.Load()
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	c, err := cp.Client()
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	var exports v1alpha1.APIServiceExportList
	if err := c.List(ctx, &exports); err != nil {
		return kube.Failed(fmt.Errorf("list APIServiceExports on %s: %w", cp.REST.Host, err))
	}
	var reqs v1alpha1.APIServiceExportRequestList
	if err := c.List(ctx, &reqs); err != nil {
		return kube.Failed(fmt.Errorf("list APIServiceExportRequests on %s: %w", cp.REST.Host, err))
	}
	rows := Rows(exports.Items, reqs.Items...)
	if f.cluster != "" {
		kept := rows[:0]
		for _, r := range rows {
			if r.Cluster == f.cluster {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	switch f.output {
	case kube.Table:
		err = PrintTable(stdout, rows, time.Now())
	case kube.Wide:
		err = PrintWide(stdout, rows, time.Now())
	case kube.Name:
		err = printNames(stdout, rows)
	default:
		err = kube.Print(stdout, f.output, rows)
	}
	if err != nil {
		return err
	}
	for _, r := range rows {
		if f.check && !r.InSync {
			return exitcode.Silent(exitcode.Problems)
		}
	}
	return nil
}

// Rows turns exports, and the requests that are not Ready, into rows
// sorted by cluster, then exports before requests, then name.
func Rows(exports []v1alpha1.APIServiceExport, requests ...v1alpha1.APIServiceExportRequest) []Row {
	rows := make([]Row, 0, len(exports))
	for i := range exports {
		rows = append(rows, RowOf(&exports[i]))
	}
	for i := range requests {
		if r, ok := RequestRowOf(&requests[i]); ok {
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Cluster != b.Cluster {
			return a.Cluster < b.Cluster
		}
		if a.Request != b.Request && (a.Request == "" || b.Request == "") {
			return a.Request == ""
		}
		return a.Export+a.Request < b.Export+b.Request
	})
	return rows
}

// RequestRowOf is the row of a request that is not Ready (ok false for a
// Ready one): its Ready condition's reason and message, or Pending when the
// backend has written none yet.
func RequestRowOf(q *v1alpha1.APIServiceExportRequest) (Row, bool) {
	r := Row{Cluster: strings.TrimPrefix(q.Namespace, v1alpha1.ClusterNamespacePrefix), Request: q.Name,
		Template: q.Spec.TemplateRef.Name, State: StateRequestNotReady, Reason: string(v1alpha1.RequestPending)}
	cond := meta.FindStatusCondition(q.Status.Conditions, v1alpha1.ReadyCondition)
	if cond != nil {
		if cond.Status == metav1.ConditionTrue && cond.ObservedGeneration >= q.Generation {
			return Row{}, false
		}
		since := cond.LastTransitionTime
		r.Since, r.Reason, r.Message = &since, cond.Reason, cond.Message
	}
	return r, true
}

// RowOf reads one export: in sync when the agent's ConsumerInSync is True
// for the export's current generation and the hash it names is main's.
func RowOf(e *v1alpha1.APIServiceExport) Row {
	cluster := strings.TrimPrefix(e.Namespace, v1alpha1.ClusterNamespacePrefix)
	r := Row{Cluster: cluster, Export: e.Name, Template: e.Spec.TemplateRef.Name, MainSchema: e.Spec.SchemaHash,
		AgentRevision: e.Status.ConsumerRevision, State: StateNotReported, Instances: e.Status.Instances.DeepCopy()}
	cond := meta.FindStatusCondition(e.Status.Conditions, v1alpha1.ConsumerInSyncCondition)
	if cond == nil {
		return r
	}
	since := cond.LastTransitionTime
	r.Since, r.Reason, r.Message = &since, cond.Reason, cond.Message
	r.AgentSchema = reportedHash(cond.Message)
	current := cond.ObservedGeneration >= e.Generation
	r.InSync = cond.Status == metav1.ConditionTrue && current &&
		r.AgentSchema != "" && strings.HasPrefix(e.Spec.SchemaHash, r.AgentSchema)
	r.State = StateNotInSync
	if r.InSync {
		r.State = StateInSync
	}
	return r
}

// reportedHash is the hash in the agent's message "applied at <rev>, schema <hash>".
func reportedHash(msg string) string {
	_, after, ok := strings.Cut(msg, "schema ")
	if !ok {
		return ""
	}
	h := strings.TrimRight(strings.Fields(after + " ")[0], ",.;")
	for _, r := range h {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return ""
		}
	}
	return h
}

// PrintTable writes rows as a table; SINCE is relative to now. Columns are
// only ever added at the end (SYNCED and FAILED came last), so scripts that
// read fields by position keep working.
func PrintTable(w io.Writer, rows []Row, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tEXPORT\tTEMPLATE\tMAIN SCHEMA\tAGENT SCHEMA\tSTATE\tSINCE\tREASON\tSYNCED\tFAILED")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(cells(r, now), "\t"))
	}
	return tw.Flush()
}

// cells are the table's columns of r.
func cells(r Row, now time.Time) []string {
	since := "-"
	if r.Since != nil {
		since = now.Sub(r.Since.Time).Round(time.Second).String()
	}
	export := r.Export
	if r.Request != "" {
		export = "request/" + r.Request
	}
	synced, failed := "-", "-"
	if r.Instances != nil {
		synced, failed = fmt.Sprint(r.Instances.Synced), fmt.Sprint(r.Instances.Failed)
	}
	return []string{r.Cluster, export, dash(r.Template), dash(staterepo.ShortHash(r.MainSchema, staterepo.ShortDigits)),
		dash(staterepo.ShortHash(r.AgentSchema, staterepo.ShortDigits)), r.State, since, dash(r.Reason), synced, failed}
}

// PrintWide is PrintTable with two more columns at the end: the revision
// the agent applied, and the condition's message.
func PrintWide(w io.Writer, rows []Row, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tEXPORT\tTEMPLATE\tMAIN SCHEMA\tAGENT SCHEMA\tSTATE\tSINCE\tREASON\tSYNCED\tFAILED\tAGENT REVISION\tMESSAGE")
	for _, r := range rows {
		c := cells(r, now)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.Join(c, "\t"), dash(r.AgentRevision), dash(strings.ReplaceAll(r.Message, "\n", " ")))
	}
	return tw.Flush()
}

// printNames writes each row's object as kubectl -o name does.
func printNames(w io.Writer, rows []Row) error {
	for _, r := range rows {
		kind, name := "APIServiceExport", r.Export
		if r.Request != "" {
			kind, name = "APIServiceExportRequest", r.Request
		}
		if err := kube.PrintNames(w, kube.Resource(kind), name); err != nil {
			return err
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
