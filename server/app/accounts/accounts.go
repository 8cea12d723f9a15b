package accounts

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Audit event types for accounts.
// Logout ends the caller's web session.
func (s *Service) Logout(ctx context.Context) error {
	p, err := core.Authenticated(ctx)
	if err != nil {
		return err
	}
	if p.SessionID != "" {
		if err := s.st.DeleteWebSession(ctx, p.SessionID); err != nil {
			return fmt.Errorf("delete web session: %w", err)
		}
	}
	s.Audit(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditLogout})
	return nil
}

// AuthenticateCookie resolves a session cookie to its user.
func (s *Service) AuthenticateCookie(ctx context.Context, cookie string) (*core.Principal, error) {
	ws, err := s.st.WebSession(ctx, auth.HashToken(cookie))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: your sign-in has expired", core.ErrUnauthorized)
	}
	if err != nil {
		return nil, fmt.Errorf("look up web session: %w", err)
	}
	u, err := s.st.UserByID(ctx, ws.UserID)
	if err != nil || u.Disabled {
		return nil, fmt.Errorf("%w: account unavailable", core.ErrUnauthorized)
	}
	p, err := s.PrincipalOf(ctx, u)
	if err != nil {
		return nil, err
	}
	p.SessionID, p.CSRFToken = ws.ID, ws.CSRFToken
	return p, nil
}

// AuthenticateBearer resolves an API token to its user.
func (s *Service) AuthenticateBearer(ctx context.Context, token string) (*core.Principal, error) {
	t, err := s.st.APITokenByHash(ctx, auth.HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown API token", core.ErrUnauthorized)
	}
	if err != nil {
		return nil, fmt.Errorf("look up API token: %w", err)
	}
	u, err := s.st.UserByID(ctx, t.UserID)
	if err != nil || u.Disabled {
		return nil, fmt.Errorf("%w: account unavailable", core.ErrUnauthorized)
	}
	return s.PrincipalOf(ctx, u)
}

// CheckCSRF compares the request's token with the session's in constant time.
func CheckCSRF(p *core.Principal, token string) bool {
	return p.CSRFToken != "" && subtle.ConstantTimeCompare([]byte(p.CSRFToken), []byte(token)) == 1
}

// PrincipalOf loads a user's grants.
func (s *Service) PrincipalOf(ctx context.Context, u store.User) (*core.Principal, error) {
	assigns, err := s.st.RolesOf(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("roles of %s: %w", u.ID, err)
	}
	p := core.NewPrincipal(u.ID, u.Name)
	roles := map[string]store.Role{}
	for _, a := range assigns {
		r, ok := roles[a.Role]
		if !ok {
			r, err = s.st.Role(ctx, a.Role)
			if errors.Is(err, store.ErrNotFound) {
				continue // a deleted role grants nothing
			}
			if err != nil {
				return nil, fmt.Errorf("role %q: %w", a.Role, err)
			}
			roles[a.Role] = r
		}
		label := a.Role
		if a.GroupID != "" {
			label += "@" + s.GroupName(ctx, a.GroupID)
		}
		p.Roles = append(p.Roles, label)
		for _, pm := range r.Permissions {
			p.Grant(perm.Permission(pm), a.GroupID)
		}
	}
	return p, nil
}

func meOf(p *core.Principal) protocol.Me {
	return protocol.Me{ID: p.UserID, Name: p.Name, Roles: p.Roles, Permissions: p.Permissions(), CSRFToken: p.CSRFToken}
}

// Me describes the caller.
func (s *Service) Me(ctx context.Context) (protocol.Me, error) {
	p, err := core.Authenticated(ctx)
	if err != nil {
		return protocol.Me{}, err
	}
	return meOf(p), nil
}

// CreateUser adds an account; the caller needs users.manage and must be
// able to grant every role it is given (checkGrantable).
func (s *Service) CreateUser(ctx context.Context, req protocol.CreateUserRequest) (protocol.User, error) {
	p, err := core.Require(ctx, perm.UsersManage)
	if err != nil {
		return protocol.User{}, err
	}
	if as, err := s.parseRoles(ctx, req.Roles); err != nil {
		return protocol.User{}, err
	} else if err := s.checkGrantable(ctx, p, as); err != nil {
		return protocol.User{}, err
	}
	if _, err := s.st.UserByName(ctx, strings.TrimSpace(req.Name)); err == nil {
		return protocol.User{}, fmt.Errorf("%w: a user named %q already exists", store.ErrConflict, strings.TrimSpace(req.Name))
	}
	var u protocol.User
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditUserCreated, Details: core.Details("user", strings.TrimSpace(req.Name), "roles", strings.Join(req.Roles, ", "))}, func() error {
		u, err = s.AddUser(ctx, req)
		return err
	})
	return u, err
}

// AddUser creates an account without a permission check; it is for the
// command line, which runs with the server's own rights.
func (s *Service) AddUser(ctx context.Context, req protocol.CreateUserRequest) (protocol.User, error) {
	name := strings.TrimSpace(req.Name)
	if name == "" || utf8.RuneCountInString(name) > 64 || strings.ContainsAny(name, "\x00\r\n@") {
		return protocol.User{}, core.BadRequest("name must be 1-64 characters without '@' or line breaks")
	}
	if utf8.RuneCountInString(req.Password) < 10 {
		return protocol.User{}, core.BadRequest("password must have at least 10 characters")
	}
	if len(req.Roles) == 0 {
		return protocol.User{}, core.BadRequest("at least one role is required")
	}
	assigns, err := s.parseRoles(ctx, req.Roles)
	if err != nil {
		return protocol.User{}, err
	}
	hash, err := s.hashPassword(ctx, req.Password)
	if err != nil {
		return protocol.User{}, err
	}
	u, err := s.st.CreateUser(ctx, store.User{Name: name, PasswordHash: hash, Created: s.Now().UTC()})
	if err != nil {
		return protocol.User{}, fmt.Errorf("create user %q: %w", name, err)
	}
	for i := range assigns {
		assigns[i].UserID = u.ID
	}
	if err := s.st.SetRoles(ctx, u.ID, assigns); err != nil {
		return protocol.User{}, fmt.Errorf("set roles of %q: %w", name, err)
	}
	return protocol.User{ID: u.ID, Name: u.Name, Roles: req.Roles, Created: u.Created}, nil
}

// parseRoles turns "Role" or "Role@Group" into assignments.
func (s *Service) parseRoles(ctx context.Context, roles []string) ([]store.RoleAssignment, error) {
	var out []store.RoleAssignment
	for _, spec := range roles {
		name, group, scoped := strings.Cut(spec, "@")
		if _, err := s.st.Role(ctx, name); errors.Is(err, store.ErrNotFound) {
			return nil, core.BadRequest("unknown role %q", name)
		} else if err != nil {
			return nil, fmt.Errorf("role %q: %w", name, err)
		}
		a := store.RoleAssignment{Role: name}
		if scoped {
			g, err := s.st.GroupByName(ctx, group)
			if errors.Is(err, store.ErrNotFound) {
				return nil, core.BadRequest("unknown computer group %q", group)
			} else if err != nil {
				return nil, fmt.Errorf("group %q: %w", group, err)
			}
			a.GroupID = g.ID
		}
		out = append(out, a)
	}
	return out, nil
}

// ListUsers lists the accounts the caller may see in user administration
// (see userAccess): every account for users.manage or users.read over
// every group, otherwise those whose roles all lie in groups it holds one
// of them in.
func (s *Service) ListUsers(ctx context.Context) ([]protocol.User, error) {
	p, err := core.RequireAny(ctx, perm.UsersManage, perm.UsersRead)
	if err != nil {
		return nil, err
	}
	us, err := s.st.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	all, err := s.st.RoleAssignments(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.User, 0, len(us))
	names := map[string]string{}
	for _, u := range us {
		as := all[u.ID]
		if visible, _, _, err := s.userAccess(ctx, p, as); err != nil {
			return nil, err
		} else if !visible {
			continue
		}
		out = append(out, userOf(u, s.roleLabels(ctx, as, names)))
	}
	return out, nil
}

// roleLabels names assignments as users write them ("Role" or
// "Role@Group"), looking group names up through the cache names.
func (s *Service) roleLabels(ctx context.Context, as []store.RoleAssignment, names map[string]string) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		label := a.Role
		if a.GroupID != "" {
			n, ok := names[a.GroupID]
			if !ok {
				n = s.GroupName(ctx, a.GroupID)
				names[a.GroupID] = n
			}
			label += "@" + n
		}
		out = append(out, label)
	}
	return out
}

// CreateAPIToken makes a bearer token for the caller's own automation.
func (s *Service) CreateAPIToken(ctx context.Context, req protocol.CreateAPITokenRequest) (protocol.APIToken, error) {
	p, err := core.Authenticated(ctx)
	if err != nil {
		return protocol.APIToken{}, err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 100 {
		return protocol.APIToken{}, core.BadRequest("token name must be 1-100 characters")
	}
	tok := auth.NewToken("tapi_", 32)
	t := store.APIToken{ID: core.NewID(), UserID: p.UserID, Name: name, Hash: auth.HashToken(tok), Created: s.Now().UTC()}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditAPITokenMade, Details: core.Details("token_id", t.ID, "name", name)}, func() error {
		t, err = s.st.CreateAPIToken(ctx, t)
		if err != nil {
			return fmt.Errorf("create API token: %w", err)
		}
		return nil
	})
	if err != nil {
		return protocol.APIToken{}, err
	}
	return protocol.APIToken{ID: t.ID, Name: t.Name, Token: tok, Created: t.Created}, nil
}

// ListAPITokens lists the caller's own tokens.
func (s *Service) ListAPITokens(ctx context.Context) ([]protocol.APIToken, error) {
	p, err := core.Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	ts, err := s.st.ListAPITokens(ctx, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	out := make([]protocol.APIToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, protocol.APIToken{ID: t.ID, Name: t.Name, Created: t.Created})
	}
	return out, nil
}

// DeleteAPIToken removes one of the caller's tokens, or a token of a user
// the caller manages (see userAccess); others are not found.
func (s *Service) DeleteAPIToken(ctx context.Context, id string) error {
	p, err := core.Authenticated(ctx)
	if err != nil {
		return err
	}
	t, err := s.st.APITokenByID(ctx, id)
	if err != nil {
		return err
	}
	if t.UserID != p.UserID {
		if !p.Can(perm.UsersManage) {
			return fmt.Errorf("API token %q: %w", id, store.ErrNotFound)
		}
		if _, _, err := s.managedUser(ctx, p, t.UserID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("API token %q: %w", id, store.ErrNotFound)
			}
			return err
		}
	}
	return s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditAPITokenGone, Details: core.Details("token_id", id, "name", t.Name)}, func() error {
		if err := s.st.DeleteAPIToken(ctx, id); err != nil {
			return fmt.Errorf("delete API token: %w", err)
		}
		return nil
	})
}

// BootstrapAdmin creates the first Administrator when there are no users
// and returns its generated password; ok is false when users exist.
func (s *Service) BootstrapAdmin(ctx context.Context, name string) (password string, ok bool, err error) {
	n, err := s.st.CountUsers(ctx)
	if err != nil {
		return "", false, fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return "", false, nil
	}
	password = auth.NewToken("", 15) // 20 URL-safe characters
	if _, err := s.AddUser(ctx, protocol.CreateUserRequest{Name: name, Password: password, Roles: []string{perm.RoleAdministrator}}); errors.Is(err, store.ErrConflict) {
		// Another node starting on the same store made it first.
		return "", false, nil
	} else if err != nil {
		return "", false, err
	}
	s.Audit(ctx, store.AuditRecord{Actor: "server", Type: protocol.AuditAdminBootstrp, Details: core.Details("user", name)})
	return password, true, nil
}
