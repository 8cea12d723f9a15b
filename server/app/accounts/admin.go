package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Audit event types of user and role administration.
const (
	displayNameMaxRune = 100
)

// ErrLastAdmin refuses a change that would leave no enabled user holding
// the Administrator role over every group: nobody could manage users again.
var ErrLastAdmin = fmt.Errorf("%w: this would leave no enabled administrator; give another user the Administrator role (all groups) first", store.ErrConflict)

// isFullAdmin reports whether assignments hold Administrator over every group.
func isFullAdmin(as []store.RoleAssignment) bool {
	return slices.ContainsFunc(as, func(a store.RoleAssignment) bool {
		return a.Role == perm.RoleAdministrator && a.GroupID == ""
	})
}

// otherAdmins counts enabled full administrators other than userID.
func (s *Service) otherAdmins(ctx context.Context, userID string) (int, error) {
	us, err := s.st.ListUsers(ctx)
	if err != nil {
		return 0, fmt.Errorf("list users: %w", err)
	}
	n := 0
	for _, u := range us {
		if u.ID == userID || u.Disabled {
			continue
		}
		as, err := s.st.RolesOf(ctx, u.ID)
		if err != nil {
			return 0, fmt.Errorf("roles of %s: %w", u.ID, err)
		}
		if isFullAdmin(as) {
			n++
		}
	}
	return n, nil
}

func userOf(u store.User, roles []string) protocol.User {
	if roles == nil {
		roles = []string{}
	}
	return protocol.User{ID: u.ID, Name: u.Name, DisplayName: u.DisplayName, Disabled: u.Disabled, Roles: roles, Created: u.Created}
}

// withAdminsLocked runs fn while no other change that could remove the
// last administrator runs, on this node or another (two administrators
// demoting each other at once).
func (s *Service) withAdminsLocked(ctx context.Context, fn func() error) error {
	return s.st.Exclusive(ctx, "accounts/administrators", fn)
}

// UpdateUser changes a user's display name, roles or disabled state. The
// caller must manage the user as it is (see userAccess) and be able to
// grant the new roles.
func (s *Service) UpdateUser(ctx context.Context, id string, req protocol.UpdateUserRequest) (protocol.User, error) {
	p, err := core.Require(ctx, perm.UsersManage)
	if err != nil {
		return protocol.User{}, err
	}
	var out protocol.User
	err = s.withAdminsLocked(ctx, func() error {
		var err error
		out, err = s.updateUser(ctx, p, id, req)
		return err
	})
	return out, err
}

func (s *Service) updateUser(ctx context.Context, p *core.Principal, id string, req protocol.UpdateUserRequest) (protocol.User, error) {
	u, cur, err := s.managedUser(ctx, p, id)
	if err != nil {
		return protocol.User{}, err
	}
	next := u
	if req.DisplayName != nil {
		dn := strings.TrimSpace(*req.DisplayName)
		if utf8.RuneCountInString(dn) > displayNameMaxRune || strings.ContainsAny(dn, "\x00\r\n") {
			return protocol.User{}, core.BadRequest("display name must be at most 100 characters without line breaks")
		}
		next.DisplayName = dn
	}
	if req.Disabled != nil {
		if *req.Disabled && u.ID == p.UserID {
			return protocol.User{}, core.BadRequest("you cannot disable your own account")
		}
		next.Disabled = *req.Disabled
	}
	roles := cur
	if req.Roles != nil {
		if len(*req.Roles) == 0 {
			return protocol.User{}, core.BadRequest("at least one role is required")
		}
		if roles, err = s.parseRoles(ctx, *req.Roles); err != nil {
			return protocol.User{}, err
		}
		if err := s.checkGrantable(ctx, p, roles); err != nil {
			return protocol.User{}, err
		}
	}
	if isFullAdmin(cur) && !u.Disabled && (next.Disabled || !isFullAdmin(roles)) {
		n, err := s.otherAdmins(ctx, u.ID)
		if err != nil {
			return protocol.User{}, err
		}
		if n == 0 {
			return protocol.User{}, ErrLastAdmin
		}
	}
	var recs []store.AuditRecord
	if req.Roles != nil {
		recs = append(recs, store.AuditRecord{Actor: p.Name, Type: protocol.AuditRolesChanged, Details: core.Details("user", u.Name, "roles", strings.Join(*req.Roles, ", "))})
	}
	if next.DisplayName != u.DisplayName {
		recs = append(recs, store.AuditRecord{Actor: p.Name, Type: protocol.AuditUserChanged, Details: core.Details("user", u.Name, "display_name", next.DisplayName)})
	}
	if next.Disabled != u.Disabled {
		typ := protocol.AuditUserEnabled
		if next.Disabled {
			typ = protocol.AuditUserDisabled
		}
		recs = append(recs, store.AuditRecord{Actor: p.Name, Type: typ, Details: core.Details("user", u.Name)})
	}
	err = s.RecordAll(ctx, recs, func() error {
		if next.DisplayName != u.DisplayName || next.Disabled != u.Disabled {
			if err := s.st.UpdateUser(ctx, next); err != nil {
				return fmt.Errorf("update user %q: %w", u.Name, err)
			}
		}
		if req.Roles != nil {
			for i := range roles {
				roles[i].UserID = u.ID
			}
			if err := s.st.SetRoles(ctx, u.ID, roles); err != nil {
				return fmt.Errorf("set roles of %q: %w", u.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return protocol.User{}, err
	}
	switch {
	case next.Disabled && !u.Disabled:
		// Signed out at once; the account check on every request already
		// refuses it, this frees the sessions and closes live viewers.
		if err := s.revokeAccess(ctx, u.ID, ""); err != nil {
			return protocol.User{}, fmt.Errorf("sign out %q: %w", u.Name, err)
		}
	case req.Roles != nil:
		s.recheckViewers(ctx, u.ID)
	}
	return s.userByID(ctx, u.ID)
}

func (s *Service) userByID(ctx context.Context, id string) (protocol.User, error) {
	u, err := s.st.UserByID(ctx, id)
	if err != nil {
		return protocol.User{}, fmt.Errorf("user %q: %w", id, err)
	}
	pr, err := s.PrincipalOf(ctx, u)
	if err != nil {
		return protocol.User{}, err
	}
	return userOf(u, pr.Roles), nil
}

// ResetPassword sets a new password for a user and revokes what the old
// one opened: every web session (but the caller's own current one) and
// every API token. Someone who learned the old password keeps nothing.
func (s *Service) ResetPassword(ctx context.Context, id string, req protocol.ResetPasswordRequest) error {
	p, err := core.Require(ctx, perm.UsersManage)
	if err != nil {
		return err
	}
	u, _, err := s.managedUser(ctx, p, id)
	if err != nil {
		return err
	}
	if utf8.RuneCountInString(req.Password) < 10 {
		return core.BadRequest("password must have at least 10 characters")
	}
	hash, err := s.hashPassword(ctx, req.Password)
	if err != nil {
		return err
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditUserPassword, Details: core.Details("user", u.Name)}, func() error {
		if err := s.st.SetUserPassword(ctx, u.ID, hash); err != nil {
			return fmt.Errorf("set password of %q: %w", u.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	keep := ""
	if u.ID == p.UserID {
		keep = p.SessionID
	}
	if err := s.revokeAccess(ctx, u.ID, keep); err != nil {
		return fmt.Errorf("sign out %q: %w", u.Name, err)
	}
	s.forgetFailures(u.Name)
	return nil
}

// DeleteUser removes an account: never the caller's own, never the last
// enabled administrator.
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	p, err := core.Require(ctx, perm.UsersManage)
	if err != nil {
		return err
	}
	if id == p.UserID {
		return core.BadRequest("you cannot delete your own account")
	}
	return s.withAdminsLocked(ctx, func() error { return s.deleteUser(ctx, p, id) })
}

func (s *Service) deleteUser(ctx context.Context, p *core.Principal, id string) error {
	u, as, err := s.managedUser(ctx, p, id)
	if err != nil {
		return err
	}
	if isFullAdmin(as) && !u.Disabled {
		n, err := s.otherAdmins(ctx, u.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrLastAdmin
		}
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditUserDeleted, Details: core.Details("user", u.Name)}, func() error {
		if err := s.st.DeleteUser(ctx, u.ID); err != nil {
			return fmt.Errorf("delete user %q: %w", u.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.closeViewers(u.ID, nil)
	return nil
}

// ---- roles ----

func checkRoleRequest(req protocol.RoleRequest) (store.Role, error) {
	name := strings.TrimSpace(req.Name)
	if name == "" || utf8.RuneCountInString(name) > 64 || strings.ContainsAny(name, "@\x00\r\n") {
		return store.Role{}, core.BadRequest("role name must be 1-64 characters without '@' or line breaks")
	}
	if len(req.Permissions) == 0 {
		return store.Role{}, core.BadRequest("a role needs at least one permission")
	}
	var ps []string
	for _, x := range req.Permissions {
		if !perm.Valid(perm.Permission(x)) {
			return store.Role{}, core.BadRequest("unknown permission %q", x)
		}
		if !slices.Contains(ps, x) {
			ps = append(ps, x)
		}
	}
	slices.Sort(ps)
	return store.Role{Name: name, Permissions: ps}, nil
}

// ListRoles lists role definitions to anyone signed in (role names are
// shown on the caller's own profile), with how often each is assigned.
func (s *Service) ListRoles(ctx context.Context) ([]protocol.Role, error) {
	if _, err := core.Authenticated(ctx); err != nil {
		return nil, err
	}
	rs, err := s.st.ListRoles(ctx)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	counts, err := s.st.RoleAssignmentCounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.Role, 0, len(rs))
	for _, r := range rs {
		_, builtin := perm.DefaultRole(r.Name)
		ps := r.Permissions
		if ps == nil {
			ps = []string{}
		}
		out = append(out, protocol.Role{Name: r.Name, Permissions: ps, Builtin: builtin, Assigned: counts[r.Name]})
	}
	return out, nil
}

// CreateRole defines a custom role. Roles apply wherever they are
// assigned, so defining them needs roles.manage over every group.
func (s *Service) CreateRole(ctx context.Context, req protocol.RoleRequest) (protocol.Role, error) {
	p, err := core.RequireGlobal(ctx, perm.RolesManage, "defining a role")
	if err != nil {
		return protocol.Role{}, err
	}
	r, err := checkRoleRequest(req)
	if err != nil {
		return protocol.Role{}, err
	}
	if _, err := s.st.Role(ctx, r.Name); err == nil {
		return protocol.Role{}, fmt.Errorf("%w: a role named %q already exists", store.ErrConflict, r.Name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return protocol.Role{}, fmt.Errorf("role %q: %w", r.Name, err)
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditRoleCreated, Details: core.Details("role", r.Name, "permissions", strings.Join(r.Permissions, ", "))}, func() error {
		if err := s.st.UpsertRole(ctx, r); err != nil {
			return fmt.Errorf("create role %q: %w", r.Name, err)
		}
		return nil
	})
	if err != nil {
		return protocol.Role{}, err
	}
	return protocol.Role{Name: r.Name, Permissions: r.Permissions}, nil
}

// UpdateRole replaces a custom role's permissions; built-in roles are
// fixed, so that what "Administrator" means never drifts. It changes what
// every holder of the role may do wherever it is assigned, so it needs
// roles.manage over every group.
func (s *Service) UpdateRole(ctx context.Context, name string, req protocol.RoleRequest) (protocol.Role, error) {
	p, err := core.RequireGlobal(ctx, perm.RolesManage, "changing a role")
	if err != nil {
		return protocol.Role{}, err
	}
	if _, builtin := perm.DefaultRole(name); builtin {
		return protocol.Role{}, fmt.Errorf("%w: %q is a built-in role and cannot be changed; copy it to make a custom role", store.ErrConflict, name)
	}
	if req.Name == "" {
		req.Name = name
	}
	if strings.TrimSpace(req.Name) != name {
		return protocol.Role{}, core.BadRequest("roles cannot be renamed; create a new role and move its users")
	}
	r, err := checkRoleRequest(req)
	if err != nil {
		return protocol.Role{}, err
	}
	old, err := s.st.Role(ctx, name)
	if err != nil {
		return protocol.Role{}, fmt.Errorf("role %q: %w", name, err)
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditRoleChanged, Details: core.Details("role", r.Name,
		"permissions", strings.Join(r.Permissions, ", "), "before", strings.Join(old.Permissions, ", "))}, func() error {
		if err := s.st.UpsertRole(ctx, r); err != nil {
			return fmt.Errorf("update role %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return protocol.Role{}, err
	}
	s.recheckRoleHolders(context.WithoutCancel(ctx), r.Name) // the change is made: its effect too
	counts, _ := s.st.RoleAssignmentCounts(ctx)
	return protocol.Role{Name: r.Name, Permissions: r.Permissions, Assigned: counts[r.Name]}, nil
}

// recheckRoleHolders closes the viewers of everyone holding role, over
// any group, whose sessions its changed permissions no longer reach.
func (s *Service) recheckRoleHolders(ctx context.Context, role string) {
	all, err := s.st.RoleAssignments(ctx)
	if err != nil {
		s.Log.Error("recheck viewers of a changed role", "role", role, "err", err)
		return
	}
	for userID, as := range all {
		if slices.ContainsFunc(as, func(a store.RoleAssignment) bool { return a.Role == role }) {
			s.recheckViewers(ctx, userID)
		}
	}
}

// DeleteRole removes a custom role that nobody holds.
func (s *Service) DeleteRole(ctx context.Context, name string) error {
	p, err := core.RequireGlobal(ctx, perm.RolesManage, "deleting a role")
	if err != nil {
		return err
	}
	if _, builtin := perm.DefaultRole(name); builtin {
		return fmt.Errorf("%w: %q is a built-in role and cannot be deleted", store.ErrConflict, name)
	}
	if _, err := s.st.Role(ctx, name); err != nil {
		return fmt.Errorf("role %q: %w", name, err)
	}
	return s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditRoleDeleted, Details: core.Details("role", name)}, func() error {
		if err := s.st.DeleteRole(ctx, name); err != nil {
			return fmt.Errorf("delete role %q: %w", name, err)
		}
		return nil
	})
}
