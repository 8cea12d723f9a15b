package accounts

import (
	"context"
	"errors"
	"fmt"
	"github.com/tetherdesk/tether/server/app/core"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
)

// userAccess tells whether p may see (visible) and change (manage) a user
// holding the assignments as; why says in words what stops the change.
func (s *Service) userAccess(ctx context.Context, p *core.Principal, as []store.RoleAssignment) (visible, manage bool, why string, err error) {
	// users.read sees as far as users.manage would, and changes nothing.
	sees := func(g string) bool { return p.CanIn(perm.UsersManage, g) || p.CanIn(perm.UsersRead, g) }
	visible = sees("")
	if !visible {
		visible = len(as) > 0
		for _, a := range as {
			if a.GroupID == "" || !sees(a.GroupID) {
				visible = false
				break
			}
		}
	}
	if !visible {
		return false, false, "the user holds roles outside the computer groups you manage users in", nil
	}
	// Seeing through users.read is no licence to change: users.manage
	// must cover every group the user's roles lie in.
	manages := p.Global(perm.UsersManage)
	if !manages {
		manages = len(as) > 0
		for _, a := range as {
			if a.GroupID == "" || !p.CanIn(perm.UsersManage, a.GroupID) {
				manages = false
				break
			}
		}
	}
	if !manages {
		return true, false, "you may see this user but do not manage users in every group where they hold roles", nil
	}
	if p.FullAdmin() {
		return true, true, "", nil
	}
	for _, a := range as {
		r, err := s.st.Role(ctx, a.Role)
		if errors.Is(err, store.ErrNotFound) {
			continue // a deleted role grants nothing
		}
		if err != nil {
			return false, false, "", fmt.Errorf("role %q: %w", a.Role, err)
		}
		for _, pm := range r.Permissions {
			if !p.CanIn(perm.Permission(pm), a.GroupID) {
				return true, false, fmt.Sprintf("the user holds %s through %q, which you do not hold there", pm, a.Role), nil
			}
		}
	}
	return true, true, "", nil
}

// managedUser loads a user p may change: ErrNotFound for one it may not
// see (so ids cannot be probed), core.ErrForbidden for one it sees but holds
// permissions p lacks.
func (s *Service) managedUser(ctx context.Context, p *core.Principal, id string) (store.User, []store.RoleAssignment, error) {
	u, err := s.st.UserByID(ctx, id)
	if err != nil {
		return store.User{}, nil, fmt.Errorf("user %q: %w", id, err)
	}
	as, err := s.st.RolesOf(ctx, u.ID)
	if err != nil {
		return store.User{}, nil, fmt.Errorf("roles of %q: %w", u.Name, err)
	}
	visible, manage, why, err := s.userAccess(ctx, p, as)
	switch {
	case err != nil:
		return store.User{}, nil, err
	case !visible:
		return store.User{}, nil, fmt.Errorf("user %q: %w", id, store.ErrNotFound)
	case !manage:
		return store.User{}, nil, fmt.Errorf("%w: you cannot change %s: %s", core.ErrForbidden, u.Name, why)
	}
	return u, as, nil
}

// checkGrantable refuses assignments that would give permissions the
// caller does not hold where they apply, or put a user outside the groups
// the caller manages users in, so users.manage is never a way to gain
// more. A full administrator may assign any role, the unattended one
// included.
func (s *Service) checkGrantable(ctx context.Context, p *core.Principal, as []store.RoleAssignment) error {
	if p.FullAdmin() {
		return nil
	}
	for _, a := range as {
		if !p.CanIn(perm.UsersManage, a.GroupID) {
			if a.GroupID == "" {
				return fmt.Errorf("%w: you manage users in some computer groups only: assign %q scoped to one of them (Role@Group)", core.ErrForbidden, a.Role)
			}
			return fmt.Errorf("%w: you do not manage users in the computer group of %q", core.ErrForbidden, a.Role+"@"+s.GroupName(ctx, a.GroupID))
		}
		r, err := s.st.Role(ctx, a.Role)
		if err != nil {
			return fmt.Errorf("role %q: %w", a.Role, err)
		}
		for _, pm := range r.Permissions {
			if !p.CanIn(perm.Permission(pm), a.GroupID) {
				return fmt.Errorf("%w: you cannot assign %q: it grants %s, which you do not hold there", core.ErrForbidden, a.Role, pm)
			}
		}
	}
	return nil
}
