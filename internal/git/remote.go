package git

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// mirrorRefSpec makes the cache's branches the remote's branches.
const mirrorRefSpec = config.RefSpec("+refs/heads/*:refs/heads/*")

// Stats counts what a Repo did since Open, for metrics and tests.
type Stats struct {
	// ObjectsWritten counts blobs, trees and commits written by Commit.
	ObjectsWritten int64
	// Commits counts commits written.
	Commits int64
	// Pushes counts successful branch updates (remote, or local without one).
	Pushes int64
	// PushRetries counts Publish attempts repeated after ErrNonFastForward.
	PushRetries int64
	// Fetches counts fetches that transferred objects; FetchesSkipped those
	// that found the remote's branches unchanged (or already present).
	Fetches, FetchesSkipped int64
}

type stats struct {
	objectsWritten, commits, pushes, pushRetries, fetches, fetchesSkipped atomic.Int64
}

// Stats returns the counters since Open.
func (r *Repo) Stats() Stats {
	s := &r.stats
	return Stats{
		ObjectsWritten: s.objectsWritten.Load(), Commits: s.commits.Load(), Pushes: s.pushes.Load(),
		PushRetries: s.pushRetries.Load(), Fetches: s.fetches.Load(), FetchesSkipped: s.fetchesSkipped.Load(),
	}
}

// remoteErr wraps a transport failure so it names the remote and is
// recognisable as ErrRemote.
func (r *Repo) remoteErr(step string, err error) error {
	return fmt.Errorf("%s %s: %w: %w", step, RedactURL(r.opts.URL), ErrRemote, ExplainSSHRefusal(err, r.opts.Auth.SSHKeyFile))
}

func (r *Repo) endpoint() (transport.Transport, *transport.Endpoint, transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(r.opts.URL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parse remote URL %s: %w", RedactURL(r.opts.URL), err)
	}
	c, err := client.NewClient(ep)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("remote %s: %w", RedactURL(r.opts.URL), err)
	}
	auth, err := r.opts.authMethod()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("credentials for %s: %w", RedactURL(r.opts.URL), err)
	}
	return c, ep, auth, nil
}

// ListRemote returns the remote's branches and heads (git ls-remote
// --heads). Without a remote it returns the local branches.
func (r *Repo) ListRemote(ctx context.Context) (map[string]plumbing.Hash, error) {
	if r.opts.URL == "" {
		return r.localBranches()
	}
	c, ep, auth, err := r.endpoint()
	if err != nil {
		return nil, err
	}
	sess, err := c.NewUploadPackSession(ep, auth)
	if err != nil {
		return nil, r.remoteErr("connect to", err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return map[string]plumbing.Hash{}, nil
	}
	if err != nil {
		return nil, r.remoteErr("list branches of", err)
	}
	return advertisedBranches(ar), nil
}

func advertisedBranches(ar *packp.AdvRefs) map[string]plumbing.Hash {
	out := map[string]plumbing.Hash{}
	for name, h := range ar.References {
		if rn := plumbing.ReferenceName(name); rn.IsBranch() {
			out[rn.Short()] = h
		}
	}
	return out
}

// Fetch updates the local copies of the remote's branches (every ref under
// refs/heads/, bindsync/* included) and removes those deleted on the
// remote. It lists the remote first and transfers nothing when every head
// is unchanged or already present locally (after this Repo's own push).
// Without a remote it only picks up packs other processes wrote (a git
// push into the local repository). Nothing local is lost when the remote
// is unreachable: the error wraps ErrRemote and names the URL.
func (r *Repo) Fetch(ctx context.Context) error {
	if r.opts.URL == "" {
		r.reindex()
		return nil
	}
	remote, err := r.ListRemote(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	local, err := r.localBranches()
	if err != nil {
		return err
	}
	missing := false
	for name, h := range remote {
		if local[name] == h {
			continue
		}
		if r.st.HasEncodedObject(h) != nil {
			missing = true
			continue
		}
		if err := r.st.SetReference(plumbing.NewHashReference(branchRef(name), h)); err != nil {
			return fmt.Errorf("update branch %s from %s in %s: %w", name, RedactURL(r.opts.URL), r.opts.Dir, err)
		}
	}
	for name := range local {
		if _, ok := remote[name]; !ok {
			if err := r.st.RemoveReference(branchRef(name)); err != nil {
				return fmt.Errorf("prune branch %s (deleted on %s) in %s: %w", name, RedactURL(r.opts.URL), r.opts.Dir, err)
			}
		}
	}
	if !missing {
		r.stats.fetchesSkipped.Add(1)
		return nil
	}
	auth, err := r.opts.authMethod()
	if err != nil {
		return fmt.Errorf("credentials for %s: %w", RedactURL(r.opts.URL), err)
	}
	err = r.repo.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: remoteName,
		RemoteURL:  r.opts.URL,
		RefSpecs:   []config.RefSpec{mirrorRefSpec},
		Auth:       auth,
		Tags:       gogit.NoTags,
		Prune:      true,
		Force:      true,
	})
	if err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		return r.remoteErr("fetch from", err)
	}
	r.stats.fetches.Add(1)
	return nil
}

// Push moves branch from old to new as a compare-and-swap: on the remote
// (the server checks old under its ref lock) and then locally, or only
// locally without a remote. When the branch is no longer at old the error
// wraps ErrNonFastForward. old == ZeroHash creates the branch (it must not
// exist); new == ZeroHash deletes it.
func (r *Repo) Push(ctx context.Context, branch string, old, new plumbing.Hash) error {
	return r.PushBranches(ctx, []BranchUpdate{{Branch: branch, Old: old, New: new}})[0]
}

// BranchUpdate is one branch move of PushBranches: a compare-and-swap from
// Old to New, as Push makes it.
type BranchUpdate struct {
	Branch   string
	Old, New plumbing.Hash
}

// PushBranches makes several independent branch moves, each the
// compare-and-swap Push makes, in one receive-pack: one connection and one
// pack of the objects they need between them. errs[i] is the outcome of
// updates[i] (nil: moved); a branch the server refuses, or that moved under
// us, never fails another. When the server refuses every branch of a
// batch (a hook that declines the whole push because of one of them), each
// is pushed again on its own, so the others still land. A branch name git
// cannot store fails only its own update.
func (r *Repo) PushBranches(ctx context.Context, updates []BranchUpdate) (errs []error) {
	errs = make([]error, len(updates))
	var todo []int
	for i, u := range updates {
		if err := staterepo.ValidBranch(u.Branch); err != nil {
			errs[i] = fmt.Errorf("push %s to %s: %w", u.Branch, r.where, err)
			continue
		}
		if u.Old != u.New {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return errs
	}
	if r.opts.URL != "" {
		batch := make([]BranchUpdate, len(todo))
		for k, i := range todo {
			batch[k] = updates[i]
		}
		res, wholeRefused := r.pushRemote(ctx, batch)
		if wholeRefused && len(batch) > 1 {
			for k := range batch {
				one, _ := r.pushRemote(ctx, batch[k:k+1])
				res[k] = one[0]
			}
		}
		ok := todo[:0:0]
		for k, i := range todo {
			if errs[i] = res[k]; errs[i] == nil {
				ok = append(ok, i)
			}
		}
		todo = ok
	}
	for _, i := range todo {
		u := updates[i]
		if err := r.setLocal(u.Branch, u.Old, u.New); err != nil {
			errs[i] = err
			continue
		}
		r.stats.pushes.Add(1)
	}
	return errs
}

// pushRemote sends the updates to the remote in one receive-pack and
// returns each one's error. wholeRefused is true when the server answered
// and refused every one of them.
func (r *Repo) pushRemote(ctx context.Context, ups []BranchUpdate) (errs []error, wholeRefused bool) {
	errs = make([]error, len(ups))
	fail := func(err error) ([]error, bool) {
		for i := range errs {
			errs[i] = err
		}
		return errs, false
	}
	c, ep, auth, err := r.endpoint()
	if err != nil {
		return fail(err)
	}
	sess, err := c.NewReceivePackSession(ep, auth)
	if err != nil {
		return fail(r.remoteErr("connect to", err))
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return fail(r.remoteErr("list branches of", err))
	}
	remote := map[string]plumbing.Hash{}
	if ar != nil {
		remote = advertisedBranches(ar)
	}
	req := packp.NewReferenceUpdateRequest()
	var said remoteMessages
	if ar != nil {
		req = packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
		if ar.Capabilities.Supports(capability.Sideband64k) {
			// what the server's hooks print, for the error of a refused branch
			req.Capabilities.Set(capability.Sideband64k)
			req.Progress = &said
		}
	}
	sent, news := r.pushCommands(req, ar, remote, ups, errs)
	if len(req.Commands) == 0 {
		return errs, false
	}
	what := describePush(req.Commands)
	encode, err := r.pushPack(ar, remote, news)
	if err != nil {
		for _, i := range sent {
			errs[i] = fmt.Errorf("push %s to %s: list objects: %w", what, RedactURL(r.opts.URL), err)
		}
		return errs, false
	}
	rs, err := r.receivePack(ctx, sess, req, what, encode)
	if rs == nil || rs.UnpackStatus != "ok" {
		if err == nil && rs != nil {
			err = r.remoteErr(fmt.Sprintf("push %s to", what), rs.Error())
		}
		for _, i := range sent {
			errs[i] = err
		}
		return errs, false
	}
	refused := r.pushStatuses(rs, sent, ups, said.String(), errs)
	return errs, refused == len(sent) && len(sent) == len(ups)
}

// pushCommands adds to req one command per update whose old head is the
// remote's and that the server can carry out, and sets errs[i] for the
// others. It returns the index of each sent update by ref and the new
// heads the pack must hold.
func (r *Repo) pushCommands(req *packp.ReferenceUpdateRequest, ar *packp.AdvRefs, remote map[string]plumbing.Hash,
	ups []BranchUpdate, errs []error) (map[plumbing.ReferenceName]int, []plumbing.Hash) {
	sent := map[plumbing.ReferenceName]int{}
	var news []plumbing.Hash
	for i, u := range ups {
		if cur := remote[u.Branch]; cur != u.Old {
			errs[i] = fmt.Errorf("push %s to %s: the remote branch is at %s, not %s: %w", u.Branch, RedactURL(r.opts.URL), short(cur), short(u.Old), ErrNonFastForward)
			continue
		}
		if u.New.IsZero() && ar != nil && !ar.Capabilities.Supports(capability.DeleteRefs) {
			errs[i] = fmt.Errorf("delete branch %s on %s: the server does not support deleting refs", u.Branch, RedactURL(r.opts.URL))
			continue
		}
		req.Commands = append(req.Commands, &packp.Command{Name: branchRef(u.Branch), Old: u.Old, New: u.New})
		sent[branchRef(u.Branch)] = i
		if !u.New.IsZero() {
			news = append(news, u.New)
		}
	}
	return sent, news
}

// pushPack returns what writes the pack of a push: the objects of news the
// remote lacks (nil when the push only deletes).
func (r *Repo) pushPack(ar *packp.AdvRefs, remote map[string]plumbing.Hash, news []plumbing.Hash) (func(io.Writer) error, error) {
	if len(news) == 0 {
		return nil, nil
	}
	var haves []plumbing.Hash
	for _, h := range remote {
		if r.st.HasEncodedObject(h) == nil {
			haves = append(haves, h)
		}
	}
	objs, err := revlist.Objects(r.st, news, haves)
	if err != nil {
		return nil, err
	}
	useRefDeltas := ar != nil && !ar.Capabilities.Supports(capability.OFSDelta)
	return func(w io.Writer) error {
		_, err := packfile.NewEncoder(w, r.st, useRefDeltas).Encode(objs, 10)
		return err
	}, nil
}

// pushStatuses sets errs[i] for each sent update the server did not
// report as done (said: what its hooks printed) and returns how many.
func (r *Repo) pushStatuses(rs *packp.ReportStatus, sent map[plumbing.ReferenceName]int, ups []BranchUpdate, said string, errs []error) int {
	refused := 0
	for name, i := range sent {
		st := commandStatus(rs, name)
		switch {
		case st == nil:
			errs[i] = r.remoteErr(fmt.Sprintf("push %s to", ups[i].Branch), fmt.Errorf("the server did not report on %s", name))
		case st.Error() == nil:
			continue
		case isRejection(st.Status):
			errs[i] = fmt.Errorf("push %s to %s: rejected (%s): %w", ups[i].Branch, RedactURL(r.opts.URL), st.Status, ErrNonFastForward)
		default:
			err := st.Error()
			if said != "" {
				err = fmt.Errorf("%w (the remote said: %s)", err, said)
			}
			errs[i] = r.remoteErr(fmt.Sprintf("push %s to", ups[i].Branch), fmt.Errorf("%w: %w", ErrRefused, err))
		}
		refused++
	}
	return refused
}

func commandStatus(rs *packp.ReportStatus, name plumbing.ReferenceName) *packp.CommandStatus {
	for _, s := range rs.CommandStatuses {
		if s.ReferenceName == name {
			return s
		}
	}
	return nil
}

// describePush names the branches of a push for messages.
func describePush(cmds []*packp.Command) string {
	if len(cmds) == 1 {
		return cmds[0].Name.Short()
	}
	names := make([]string, 0, len(cmds))
	for _, c := range cmds {
		names = append(names, c.Name.Short())
	}
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("and %d more", len(cmds)-3))
	}
	return strings.Join(names, ", ")
}

// setLocal moves the local branch from old to new (checked, unless a remote
// is the authority and already accepted the move).
func (r *Repo) setLocal(branch string, old, new plumbing.Hash) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := branchRef(branch)
	cur, err := r.Head(branch)
	if err != nil {
		return err
	}
	if r.opts.URL == "" && cur != old {
		return fmt.Errorf("update branch %s in %s: it is at %s, not %s: %w", branch, r.where, short(cur), short(old), ErrNonFastForward)
	}
	if new.IsZero() {
		if err := r.st.RemoveReference(name); err != nil {
			return fmt.Errorf("delete branch %s in %s: %w", branch, r.where, err)
		}
		return nil
	}
	var oldRef *plumbing.Reference
	if !cur.IsZero() {
		oldRef = plumbing.NewHashReference(name, cur)
	}
	err = r.st.CheckAndSetReference(plumbing.NewHashReference(name, new), oldRef)
	if err != nil {
		if errors.Is(err, storageErrRefChanged) {
			return fmt.Errorf("update branch %s in %s: moved concurrently: %w", branch, r.where, ErrNonFastForward)
		}
		return fmt.Errorf("update branch %s in %s: %w", branch, r.where, err)
	}
	return nil
}

// receivePack sends req (and the pack encode writes, when not nil) and
// returns the server's report: nil with an error when the push failed as a
// whole (the remote is unreachable, the pack could not be sent); the report
// when the server answered, whatever it said of each branch.
func (r *Repo) receivePack(ctx context.Context, sess transport.ReceivePackSession, req *packp.ReferenceUpdateRequest,
	what string, encode func(io.Writer) error) (*packp.ReportStatus, error) {
	done := make(chan error, 1)
	var rd *io.PipeReader
	if encode != nil {
		var wr *io.PipeWriter
		rd, wr = io.Pipe()
		req.Packfile = rd
		go func() {
			if err := encode(wr); err != nil {
				done <- wr.CloseWithError(err)
				return
			}
			done <- wr.Close()
		}()
	} else {
		close(done)
	}
	rs, err := sess.ReceivePack(ctx, req)
	if rd != nil && err != nil {
		_ = rd.Close()
	}
	if encErr := <-done; encErr != nil {
		return nil, fmt.Errorf("push %s to %s: encode objects: %w", what, RedactURL(r.opts.URL), encErr)
	}
	if rs != nil && len(rs.CommandStatuses) > 0 {
		return rs, nil // per branch, even when one was refused
	}
	if err != nil {
		return nil, r.remoteErr(fmt.Sprintf("push %s to", what), err)
	}
	if rs == nil { // no report-status: the exit status said it all
		rs = &packp.ReportStatus{UnpackStatus: "ok"}
		for _, c := range req.Commands {
			rs.CommandStatuses = append(rs.CommandStatuses, &packp.CommandStatus{ReferenceName: c.Name, Status: "ok"})
		}
	}
	return rs, nil
}

// isRejection tells a lost race (the ref moved under us) from other
// failures, by the reasons git receive-pack gives.
func isRejection(msg string) bool {
	for _, s := range []string{"fetch first", "non-fast-forward", "failed to lock", "cannot lock", "stale info", "but expected", "failed to update ref"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func short(h plumbing.Hash) string {
	if h.IsZero() {
		return "nothing (no branch)"
	}
	return staterepo.ShortHash(h.String(), staterepo.ShortDigits)
}

// remoteMessages keeps the last bytes a server printed during a push (its
// hooks' output), for error messages.
type remoteMessages struct{ b []byte }

const remoteMessagesMax = 1 << 10

func (m *remoteMessages) Write(p []byte) (int, error) {
	m.b = append(m.b, p...)
	if len(m.b) > remoteMessagesMax {
		m.b = append(m.b[:0], m.b[len(m.b)-remoteMessagesMax:]...)
	}
	return len(p), nil
}

func (m *remoteMessages) String() string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(m.b), "?")), " ")
}
