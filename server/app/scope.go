package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
)

// Scope. A permission held through a role scoped to a computer group
// ("Role@G") covers the objects of G only, and every check is made against
// the object acted on, never "holds it somewhere". The rules per kind of
// object (SECURITY.md says the same in words):
//
//   - endpoints, sessions, actions: in scope when the endpoint belongs to a
//     group the permission is held over (by enrollment, rule or hand);
//   - users: visible to a holder of users.manage when every role of the
//     user is scoped to a group it holds users.manage over (all users for
//     users.manage over every group); manageable when visible and it also
//     holds every permission of those roles there. A full administrator
//     (users.manage and roles.manage over every group) manages everyone:
//     roles.manage over every group can redefine any custom role anyway;
//   - roles: creating, changing and deleting roles needs roles.manage over
//     every group, since a role applies wherever it is assigned;
//   - computer groups: creating and deleting groups and changing membership
//     rules needs groups.manage over every group (a rule can pull in
//     endpoints from anywhere); a scoped holder may rename its groups and
//     add or remove, by hand, endpoints already in its scope to and from
//     groups it manages;
//   - policies: a group's policy needs screenshare.settings (or
//     settings.manage) over that group; the global one over every group; a
//     change that weakens consent needs screenshare.settings over every
//     group;
//   - enrollment tokens: only for, and only seen for, groups in scope;
//   - the audit log: records about endpoints in scope; records about no
//     endpoint (sign-ins, accounts, server events) need audit.read over
//     every group.

// Global reports whether p holds pm over every group (an unscoped role).
func (p *Principal) Global(pm perm.Permission) bool { return p.CanIn(pm, "") }

// fullAdmin reports whether p may manage every account and assign any role.
func (p *Principal) fullAdmin() bool {
	return p.Global(perm.UsersManage) && p.Global(perm.RolesManage)
}

// userAccess tells whether p may see (visible) and change (manage) a user
// holding the assignments as; why says in words what stops the change.
func (s *Service) userAccess(ctx context.Context, p *Principal, as []store.RoleAssignment) (visible, manage bool, why string, err error) {
	visible = p.Global(perm.UsersManage)
	if !visible {
		visible = len(as) > 0
		for _, a := range as {
			if a.GroupID == "" || !p.CanIn(perm.UsersManage, a.GroupID) {
				visible = false
				break
			}
		}
	}
	if !visible {
		return false, false, "the user holds roles outside the computer groups you manage users in", nil
	}
	if p.fullAdmin() {
		return true, true, "", nil
	}
	for _, a := range as {
		r, err := s.store.Role(ctx, a.Role)
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
// see (so ids cannot be probed), ErrForbidden for one it sees but holds
// permissions p lacks.
func (s *Service) managedUser(ctx context.Context, p *Principal, id string) (store.User, []store.RoleAssignment, error) {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return store.User{}, nil, fmt.Errorf("user %q: %w", id, err)
	}
	as, err := s.store.RolesOf(ctx, u.ID)
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
		return store.User{}, nil, fmt.Errorf("%w: you cannot change %s: %s", ErrForbidden, u.Name, why)
	}
	return u, as, nil
}

// checkGrantable refuses assignments that would give permissions the
// caller does not hold where they apply, or put a user outside the groups
// the caller manages users in, so users.manage is never a way to gain
// more. A full administrator may assign any role, the unattended one
// included.
func (s *Service) checkGrantable(ctx context.Context, p *Principal, as []store.RoleAssignment) error {
	if p.fullAdmin() {
		return nil
	}
	for _, a := range as {
		if !p.CanIn(perm.UsersManage, a.GroupID) {
			if a.GroupID == "" {
				return fmt.Errorf("%w: you manage users in some computer groups only: assign %q scoped to one of them (Role@Group)", ErrForbidden, a.Role)
			}
			return fmt.Errorf("%w: you do not manage users in the computer group of %q", ErrForbidden, a.Role+"@"+s.groupName(ctx, a.GroupID))
		}
		r, err := s.store.Role(ctx, a.Role)
		if err != nil {
			return fmt.Errorf("role %q: %w", a.Role, err)
		}
		for _, pm := range r.Permissions {
			if !p.CanIn(perm.Permission(pm), a.GroupID) {
				return fmt.Errorf("%w: you cannot assign %q: it grants %s, which you do not hold there", ErrForbidden, a.Role, pm)
			}
		}
	}
	return nil
}

// requireGlobal checks that the caller holds pm over every group; what
// names the operation for the message.
func requireGlobal(ctx context.Context, pm perm.Permission, what string) (*Principal, error) {
	p, err := require(ctx, pm)
	if err != nil {
		return nil, err
	}
	if !p.Global(pm) {
		return nil, fmt.Errorf("%w: %s needs %s over every computer group, not only some", ErrForbidden, what, pm)
	}
	return p, nil
}
