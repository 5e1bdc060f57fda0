-- Failed sign-ins are counted per username and per client address over a recent window,
-- before every password check; these partial indexes keep that count off the rest of the log.

CREATE INDEX audit_log_failed_login_actor ON audit_log (actor, at)
    WHERE action = 'user.login_failed';
CREATE INDEX audit_log_failed_login_address ON audit_log (remote_addr, at)
    WHERE action = 'user.login_failed';
CREATE INDEX audit_log_login_actor ON audit_log (actor, at)
    WHERE action = 'user.login';
