package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/tetherdesk/tether/server/releases"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/release"
)

// updateOffer is the release the agent's policy targets, when the agent
// runs another version, the rollout covers it and the server holds that
// release for its platform; nil otherwise.
func (s *Service) updateOffer(a store.Agent, pol protocol.Policy) *protocol.AgentUpdate {
	if s.cfg.Releases == nil || a.AgentVersion == "" {
		return nil
	}
	u, err := policy.UpdateFromDoc(pol.Doc)
	if err != nil || u.Version == "" || u.Version == a.AgentVersion || !u.Covers(a.ID) {
		return nil
	}
	r, err := s.cfg.Releases.Get(u.Version)
	if err != nil {
		if !errors.Is(err, releases.ErrNone) {
			s.log.Warn("agent update: reading the release", "version", u.Version, "err", err)
		}
		return nil
	}
	f, ok := r.Find(a.OS, a.Arch, release.KindBinary)
	if !ok {
		return nil
	}
	path := strings.NewReplacer("{version}", url.PathEscape(r.Version), "{os}", url.PathEscape(f.OS), "{arch}", url.PathEscape(f.Arch)).Replace(protocol.PathRelease)
	return &protocol.AgentUpdate{Version: r.Version, URL: path, SHA256: f.SHA256, Size: f.Size, Signature: f.Signature}
}

// updateReported audits a step of an agent's self-update.
func (s *Service) updateReported(ctx context.Context, a store.Agent, r protocol.UpdateReport) {
	kv := []string{"phase", string(r.Phase), "from", r.From, "to", r.To}
	if r.Error != "" {
		kv = append(kv, "error", r.Error)
	}
	s.Audit(ctx, store.AuditRecord{Actor: "agent:" + a.Hostname, Type: protocol.AuditAgentUpdate, EndpointID: a.ID, Details: details(kv...)})
	level := s.log.Info
	if r.Phase == protocol.UpdateRolledBack || r.Phase == protocol.UpdateFailed {
		level = s.log.Warn
	}
	args := []any{"agent_id", a.ID, "hostname", a.Hostname}
	for _, v := range kv {
		args = append(args, v)
	}
	level("agent update", args...)
}

// ReleaseFile opens a release's binary for an enrolled agent to download.
func (s *Service) ReleaseFile(ctx context.Context, secret, version, goos, arch string) (*os.File, release.File, error) {
	Public(ctx)
	if _, err := s.agentBySecret(ctx, secret); err != nil {
		return nil, release.File{}, err
	}
	if s.cfg.Releases == nil {
		return nil, release.File{}, fmt.Errorf("%w: no agent releases here", store.ErrNotFound)
	}
	r, err := s.cfg.Releases.Get(version)
	if err != nil {
		return nil, release.File{}, fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	f, ok := r.Find(goos, arch, release.KindBinary)
	if !ok {
		return nil, release.File{}, fmt.Errorf("%w: release %s has no agent for %s/%s", store.ErrNotFound, version, goos, arch)
	}
	file, err := s.cfg.Releases.OpenFile(r.Version, f)
	return file, f, err
}

// Rollouts says, for each release the policies target, how far it is
// rolled out over the endpoints the caller may see (endpoints.view, in
// its groups): how many the rollout covers and how many of those run it.
func (s *Service) Rollouts(ctx context.Context) ([]protocol.Rollout, error) {
	p, err := require(ctx, perm.EndpointsView)
	if err != nil {
		return nil, err
	}
	by := map[string]*protocol.Rollout{}
	err = store.EachAgent(ctx, s.store, func(a store.Agent) error {
		if !p.CanInAny(perm.EndpointsView, a.Groups()) {
			return nil
		}
		pol, err := s.effectivePolicy(ctx, a.Groups())
		if err != nil {
			return err
		}
		u, err := policy.UpdateFromDoc(pol.Doc)
		if err != nil || u.Version == "" {
			return nil
		}
		r := by[u.Version]
		if r == nil {
			r = &protocol.Rollout{Version: u.Version}
			by[u.Version] = r
		}
		r.Endpoints++
		if u.Covers(a.ID) {
			r.Covered++
			if a.AgentVersion == u.Version {
				r.Updated++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]protocol.Rollout, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b protocol.Rollout) int { return strings.Compare(a.Version, b.Version) })
	return out, nil
}
