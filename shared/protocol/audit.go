package protocol

// AuditType names the kind of an audit record.
type AuditType string

// Audit record types.
const (
	AuditLogin           AuditType = "login"
	AuditLoginFailed     AuditType = "login.failed"
	AuditLogout          AuditType = "logout"
	AuditUserCreated     AuditType = "user.created"
	AuditRolesChanged    AuditType = "user.roles"
	AuditAPITokenMade    AuditType = "apitoken.created"
	AuditAPITokenGone    AuditType = "apitoken.deleted"
	AuditAdminBootstrp   AuditType = "user.bootstrap"
	AuditUserChanged     AuditType = "user.changed"
	AuditUserDisabled    AuditType = "user.disabled"
	AuditUserEnabled     AuditType = "user.enabled"
	AuditUserPassword    AuditType = "user.password_reset"
	AuditUserDeleted     AuditType = "user.deleted"
	AuditRoleCreated     AuditType = "role.created"
	AuditRoleChanged     AuditType = "role.changed"
	AuditRoleDeleted     AuditType = "role.deleted"
	AuditAgentRevoked    AuditType = "agent.revoked"
	AuditAgentReEnrolled AuditType = "agent.reenrolled"
	AuditCodeIssued      AuditType = "code.issued"
	AuditCodeRenewed     AuditType = "code.renewed"
	AuditCodeExtended    AuditType = "code.extended"
	AuditCodeCancelled   AuditType = "code.cancelled"
	AuditCodeUsed        AuditType = "code.used"
	AuditCodeFailed      AuditType = "code.failed"
	AuditCodeThrottled   AuditType = "code.throttled"
	AuditActionQueued    AuditType = "action.queued"
	AuditTokenCreated    AuditType = "enrollment_token.created"
	AuditTokenRevoked    AuditType = "enrollment_token.revoked"
	AuditInstallerBuilt  AuditType = "installer.downloaded"
	AuditAgentUpdate     AuditType = "agent.update"
	AuditGroupCreated    AuditType = "group.created"
	AuditAgentEnrolled   AuditType = "agent.enrolled"
	AuditPolicyChanged   AuditType = "policy.changed"
	AuditGroupChanged    AuditType = "group.changed"
	AuditGroupDeleted    AuditType = "group.deleted"
	AuditAgentGroups     AuditType = "agent.groups"
	AuditPolicyWeakened  AuditType = "policy.consent_weakened"
	AuditSessionChat     AuditType = "session.chat"
	AuditSessionFile     AuditType = "session.file"
	AuditSessionCreated  AuditType = "session.created"
	AuditSessionState    AuditType = "session.state"
	AuditSessionJoined   AuditType = "session.joined"
	AuditSessionLeft     AuditType = "session.left"
	AuditSessionControl  AuditType = "session.control"
	AuditRekeyed         AuditType = "audit.rekeyed"
	// End-user notifications.
	AuditNotifyCreated   AuditType = "notification.created"
	AuditNotifyChanged   AuditType = "notification.changed"
	AuditNotifySubmitted AuditType = "notification.submitted"
	AuditNotifyApproved  AuditType = "notification.approved"
	AuditNotifyRejected  AuditType = "notification.rejected"
	AuditNotifyCancelled AuditType = "notification.cancelled"
	AuditNotifySent      AuditType = "notification.sent"
	AuditNotifySettings  AuditType = "notification.settings"
	AuditNotifyBranding  AuditType = "notification.branding"
	// AuditSessionRecorded: a session's recording was stored (details:
	// sha256, size, duration_ms); AuditRecordingRead: a user downloaded
	// or played it; AuditRecordingDeleted: the retention sweep removed it.
	AuditSessionRecorded  AuditType = "session.recorded"
	AuditRecordingRead    AuditType = "recording.downloaded"
	AuditRecordingDeleted AuditType = "recording.deleted"
	// AuditSessionTranscript: a terminal session's transcript was stored
	// (details: size, total, sha256); AuditTranscriptRead: a user read it.
	AuditSessionTranscript AuditType = "session.transcript"
	AuditTranscriptRead    AuditType = "transcript.read"
	// AuditSessionToolAction: a support tool changed something on the
	// endpoint (details: op, target, viewer_id, error).
	AuditSessionToolAction AuditType = "tool.action"
)
