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
	if err := validBranch(branch); err != nil {
		return fmt.Errorf("push %s to %s: %w", branch, r.where, err)
	}
	if old == new {
		return nil
	}
	if r.opts.URL != "" {
		if err := r.pushRemote(ctx, branch, old, new); err != nil {
			return err
		}
	}
	if err := r.setLocal(branch, old, new); err != nil {
		return err
	}
	r.stats.pushes.Add(1)
	return nil
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

func (r *Repo) pushRemote(ctx context.Context, branch string, old, new plumbing.Hash) error {
	c, ep, auth, err := r.endpoint()
	if err != nil {
		return err
	}
	sess, err := c.NewReceivePackSession(ep, auth)
	if err != nil {
		return r.remoteErr("connect to", err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return r.remoteErr("list branches of", err)
	}
	var cur plumbing.Hash
	if ar != nil {
		cur = advertisedBranches(ar)[branch]
	}
	if cur != old {
		return fmt.Errorf("push %s to %s: the remote branch is at %s, not %s: %w", branch, RedactURL(r.opts.URL), short(cur), short(old), ErrNonFastForward)
	}
	req := packp.NewReferenceUpdateRequest()
	if ar != nil {
		req = packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	}
	req.Commands = []*packp.Command{{Name: branchRef(branch), Old: old, New: new}}
	if new.IsZero() {
		if ar != nil && !ar.Capabilities.Supports(capability.DeleteRefs) {
			return fmt.Errorf("delete branch %s on %s: the server does not support deleting refs", branch, RedactURL(r.opts.URL))
		}
		return r.receivePack(ctx, sess, req, branch, nil)
	}
	var haves []plumbing.Hash
	if ar != nil {
		for _, h := range ar.References {
			if r.st.HasEncodedObject(h) == nil {
				haves = append(haves, h)
			}
		}
	}
	objs, err := revlist.Objects(r.st, []plumbing.Hash{new}, haves)
	if err != nil {
		return fmt.Errorf("push %s to %s: list objects of %s: %w", branch, RedactURL(r.opts.URL), short(new), err)
	}
	useRefDeltas := ar != nil && !ar.Capabilities.Supports(capability.OFSDelta)
	return r.receivePack(ctx, sess, req, branch, func(w io.Writer) error {
		_, err := packfile.NewEncoder(w, r.st, useRefDeltas).Encode(objs, 10)
		return err
	})
}

func (r *Repo) receivePack(ctx context.Context, sess transport.ReceivePackSession, req *packp.ReferenceUpdateRequest,
	branch string, encode func(io.Writer) error) error {
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
	if err != nil {
		if rd != nil {
			_ = rd.Close()
		}
		<-done
		return r.remoteErr(fmt.Sprintf("push %s to", branch), err)
	}
	if err := <-done; err != nil {
		return fmt.Errorf("push %s to %s: encode objects: %w", branch, RedactURL(r.opts.URL), err)
	}
	if rs != nil {
		if err := rs.Error(); err != nil {
			if isRejection(err.Error()) {
				return fmt.Errorf("push %s to %s: rejected (%v): %w", branch, RedactURL(r.opts.URL), err, ErrNonFastForward)
			}
			return r.remoteErr(fmt.Sprintf("push %s to", branch), err)
		}
	}
	return nil
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
	return h.String()[:12]
}
