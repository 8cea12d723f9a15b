// Package perm names the permissions the server checks and the default roles
// that bundle them.
package perm

import "slices"

// Permission is a capability checked on the server for every API call.
type Permission string

const (
	UsersManage    Permission = "users.manage"    // users, their roles and API tokens of others
	UsersRead      Permission = "users.read"      // list users (to pick authors and approvers)
	RolesManage    Permission = "roles.manage"    // define roles
	GroupsManage   Permission = "groups.manage"   // computer groups
	SettingsManage Permission = "settings.manage" // server settings
	TokensManage   Permission = "tokens.manage"   // enrollment tokens

	EndpointsView   Permission = "endpoints.view"   // search and read endpoints
	EndpointsManage Permission = "endpoints.manage" // queue maintenance actions, revoke agents

	ScreenShareStart      Permission = "screenshare.start"      // start sessions; see and rejoin own
	ScreenShareUnattended Permission = "screenshare.unattended" // start without asking the user
	ScreenShareSettings   Permission = "screenshare.settings"   // screen-share settings and policies
	ScreenShareAllSession Permission = "screenshare.sessions"   // see and join sessions of others

	AuditRead Permission = "audit.read" // read the session audit log

	// Support tools on an endpoint, with or without a screen share.
	ToolsTerminal       Permission = "tools.terminal"        // a shell as the logged-on user
	ToolsTerminalSystem Permission = "tools.terminal.system" // a shell as root / SYSTEM
	ToolsProcesses      Permission = "tools.processes"       // list and end processes
	ToolsServices       Permission = "tools.services"        // list, start, stop and restart services
	ToolsFiles          Permission = "tools.files"           // browse and download files
	ToolsFilesWrite     Permission = "tools.files.write"     // upload, rename and delete files

	NotificationsManage  Permission = "notifications.manage"
	NotificationsSend    Permission = "notifications.send"
	NotificationsRead    Permission = "notifications.read"
	NotificationsApprove Permission = "notifications.approve"
)

// All lists every permission, for validation and the Administrator role.
var All = []Permission{
	UsersManage, UsersRead, RolesManage, GroupsManage, SettingsManage, TokensManage,
	EndpointsView, EndpointsManage,
	ScreenShareStart, ScreenShareUnattended, ScreenShareSettings, ScreenShareAllSession,
	AuditRead,
	ToolsTerminal, ToolsTerminalSystem, ToolsProcesses, ToolsServices, ToolsFiles, ToolsFilesWrite,
	NotificationsManage, NotificationsSend, NotificationsRead, NotificationsApprove,
}

// Valid reports whether p is a known permission.
func Valid(p Permission) bool { return slices.Contains(All, p) }

// Role names users know.
const (
	RoleAdministrator         = "Administrator"
	RoleScreenShareAdmin      = "Screen Sharing Administrator"
	RoleScreenShareAgent      = "Screen Sharing Agent"
	RoleScreenShareUnattended = "Screen Sharing Support Session Unattended"
	RoleNotifyAdmin           = "End-User Notifications Administrator"
	RoleNotifyOperator        = "End-User Notifications Operator"
	RoleNotifyReadOnly        = "End-User Notifications Read Only User"
	RoleNotifyApprover        = "End-User Notifications Endpoint Configuration Approver"
)

// Role bundles permissions under a name.
type Role struct {
	Name        string
	Permissions []Permission
}

// Has reports whether the role grants p.
func (r Role) Has(p Permission) bool { return slices.Contains(r.Permissions, p) }

// DefaultRoles are created in every new store. The unattended permission is
// deliberately in a role of its own, held by nobody until granted; the
// support tools (a shell on the endpoint is as strong as it gets) are in
// no default role but Administrator.
func DefaultRoles() []Role {
	var admin []Permission
	for _, p := range All {
		if p != ScreenShareUnattended {
			admin = append(admin, p)
		}
	}
	return []Role{
		{RoleAdministrator, admin},
		{RoleScreenShareAdmin, []Permission{EndpointsView, ScreenShareStart, ScreenShareSettings, ScreenShareAllSession, AuditRead}},
		{RoleScreenShareAgent, []Permission{EndpointsView, ScreenShareStart}},
		{RoleScreenShareUnattended, []Permission{ScreenShareUnattended}},
		// Computer group read is EndpointsView, which all four hold.
		{RoleNotifyAdmin, []Permission{EndpointsView, UsersRead, NotificationsManage, NotificationsSend, NotificationsRead}},
		{RoleNotifyOperator, []Permission{EndpointsView, UsersRead, NotificationsSend, NotificationsRead}},
		{RoleNotifyReadOnly, []Permission{EndpointsView, NotificationsRead}},
		{RoleNotifyApprover, []Permission{EndpointsView, NotificationsApprove}},
	}
}

// DefaultRole returns the default role with that name.
func DefaultRole(name string) (Role, bool) {
	for _, r := range DefaultRoles() {
		if r.Name == name {
			return r, true
		}
	}
	return Role{}, false
}
