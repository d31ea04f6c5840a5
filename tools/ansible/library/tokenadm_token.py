#!/usr/bin/python3
# tokenadm_token: an Ansible module over `token ensure/rotate/revoke`.
# A thin wrapper: the token binary does the work and the deciding; this
# module maps its JSON to Ansible's changed/diff/check mode and keeps the
# token out of argv, out of the result and out of Ansible's output.

DOCUMENTATION = r"""
module: tokenadm_token
short_description: Provision tokenadm tokens (one per owner and label)
description:
  - Wraps C(token ensure --converge), C(token rotate) and C(token revoke) on the
    managed host. The database DSN is passed in the environment
    (C(TOKENADM_DSN)), never on a command line.
  - The token itself is never part of the module's result. Give I(dest) to have
    it written to a 0600 file on the managed host.
options:
  owner: {description: Owner of the token., type: str, required: true}
  label: {description: Label of the token; with the owner it names the token., type: str, required: true}
  roles: {description: Roles (api feed vcs http all); default all., type: list, elements: str}
  scopes: {description: Scopes., type: list, elements: str}
  expires_in: {description: Lifetime such as 90d; default the policy's default_ttl., type: str}
  allow_from: {description: Address ranges the token may be used from (needs a token with --allow-from)., type: list, elements: str}
  state:
    description:
      - C(present) creates the token if none is active, and rotates it to the asked-for
        roles, scopes and expiry when the active one differs.
      - C(rotated) replaces the active token with a new one (always changed).
      - C(absent) revokes the active token(s) of the owner and label.
    type: str
    choices: [present, absent, rotated]
    default: present
  dest: {description: File on the managed host to write a new token to (mode 0600)., type: path}
  dsn: {description: Database DSN; passed as TOKENADM_DSN in the environment., type: str}
  config: {description: tokenadm.toml to use., type: path}
  token_path: {description: The token binary; default found on PATH., type: path}
notes:
  - Supports check mode and diff mode. The diff shows roles, scopes and expiry, never a secret.
"""

EXAMPLES = r"""
- name: a deploy token for the CI user, written to a file only root can read
  tokenadm_token:
    owner: ci
    label: deploy
    roles: [api]
    expires_in: 90d
    dest: /etc/ci/deploy.token
    dsn: "{{ tokenadm_dsn }}"
"""

RETURN = r"""
id: {description: ID of the active token (never the secret)., type: str, returned: when one exists}
created: {description: A new token was made., type: bool, returned: always}
differs: {description: What differed from the request before converging (roles, scopes, expiry)., type: list, returned: state=present}
revoked: {description: IDs revoked., type: list, returned: state=absent}
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def shape(info):
    """What a diff shows of a token: no secret, nothing that changes by itself."""
    if not info:
        return {}
    return {
        "id": info.get("id"),
        "roles": sorted(info.get("roles") or []),
        "scopes": sorted(info.get("scopes") or []),
        "expires_at": info.get("expires_at"),
    }


class Tool:
    def __init__(self, module):
        self.m = module
        p = module.params
        self.bin = p["token_path"] or module.get_bin_path("token", required=True)
        self.env = {}
        if p["dsn"]:
            self.env["TOKENADM_DSN"] = p["dsn"]
        self.globals = ["--config", p["config"]] if p["config"] else []

    def run(self, args, want_json=True):
        rc, out, err = self.m.run_command([self.bin] + self.globals + args,
                                          environ_update=self.env, check_rc=False)
        doc = None
        if want_json:
            for line in out.splitlines():
                line = line.strip()
                if line.startswith("{") or line.startswith("["):
                    try:
                        doc = json.loads(line)
                    except ValueError:
                        doc = None
                    break
        if rc != 0:
            msg = err.strip().splitlines()[-1] if err.strip() else ""
            if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
                msg = doc["error"].get("message") or msg
            self.m.fail_json(msg="token %s failed (exit %d): %s" % (args[0], rc, msg), rc=rc)
        return doc, out

    def active(self, owner, label):
        _, out = self.run(["list", "--owner", owner, "--label", label, "--state", "active",
                           "--format", "json"], want_json=False)
        rows = []
        for line in out.splitlines():
            line = line.strip().rstrip(",")
            if not line or line in ("[", "]"):
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            rows.extend(doc if isinstance(doc, list) else [doc])
        return rows


def write_dest(module, path, token):
    """Writes the token to `path` atomically, mode 0600 from the start."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tokenadm-", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode())
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(tmp, path)
    except OSError as e:
        if fd >= 0:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)
        module.fail_json(msg="cannot write dest %s: %s (the new token is active: rotate it)"
                         % (path, e.strerror))


def dest_id(path):
    """The ID of the token in an existing dest file, or None."""
    try:
        with open(path) as f:
            text = f.read(4096).strip()
    except OSError:
        return None
    parts = text.split("_")
    return parts[1] if len(parts) == 3 and len(parts[1]) == 10 else None


def spec_args(p):
    args = ["--owner", p["owner"], "--label", p["label"]]
    for r in p["roles"] or []:
        args += ["--role", r]
    for s in p["scopes"] or []:
        args += ["--scope", s]
    if p["expires_in"]:
        args += ["--expires-in", p["expires_in"]]
    for a in p["allow_from"] or []:
        args += ["--allow-from", a]
    return args


def main():
    module = AnsibleModule(
        argument_spec=dict(
            owner=dict(type="str", required=True),
            label=dict(type="str", required=True),
            roles=dict(type="list", elements="str"),
            scopes=dict(type="list", elements="str"),
            expires_in=dict(type="str"),
            allow_from=dict(type="list", elements="str"),
            state=dict(type="str", default="present", choices=["present", "absent", "rotated"]),
            dest=dict(type="path"),
            dsn=dict(type="str", no_log=True),
            config=dict(type="path"),
            token_path=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    tool = Tool(module)
    before = tool.active(p["owner"], p["label"])
    result = dict(changed=False, created=False)
    diff_before = shape(before[-1]) if before else {}

    if p["state"] == "absent":
        result["revoked"] = [t["id"] for t in before]
        result["changed"] = bool(before)
        if before and not module.check_mode:
            tool.run(["revoke", "--owner", p["owner"], "--label", p["label"], "--yes",
                      "--reason", "ansible: state=absent"], want_json=False)
        result["diff"] = dict(before=diff_before, after={})
        module.exit_json(**result)

    if p["state"] == "rotated" and before:
        result["changed"] = True
        if module.check_mode:
            result["diff"] = dict(before=diff_before, after=dict(diff_before, id="(new)"))
            module.exit_json(**result)
        args = ["rotate", before[-1]["id"], "--format", "json"]
        if p["expires_in"]:
            args += ["--expires-in", p["expires_in"]]
        doc, _ = tool.run(args)
        token = (doc or {}).pop("token", None)
        if p["dest"] and token:
            write_dest(module, p["dest"], token)
        result.update(created=True, id=(doc or {}).get("id"))
        result["diff"] = dict(before=diff_before, after=shape(doc))
        module.exit_json(**result)

    # present (or rotated with nothing to rotate): ensure decides.
    args = ["ensure"] + spec_args(p) + ["--format", "json"]
    args += ["--dry-run"] if module.check_mode else ["--converge"]
    doc, _ = tool.run(args)
    doc = doc or {}
    token = doc.pop("token", None)
    differs = doc.get("differs") or []
    created = bool(doc.get("created"))
    would = bool(doc.get("would_create"))
    result.update(created=created, differs=differs, id=doc.get("id"))
    result["changed"] = created or would or bool(differs)
    if token and p["dest"]:
        write_dest(module, p["dest"], token)
    elif p["dest"] and not result["changed"] and not module.check_mode:
        held = dest_id(p["dest"])
        if held is None:
            module.fail_json(msg="dest %s has no token, and the active token %s was made "
                             "before: use state=rotated to have a new one written"
                             % (p["dest"], doc.get("id")))
        if held != doc.get("id"):
            module.fail_json(msg="dest %s holds token %s, but the active one is %s: use "
                             "state=rotated to replace both" % (p["dest"], held, doc.get("id")))
    after = shape(doc) if not module.check_mode else dict(diff_before)
    if module.check_mode and (would or differs):
        after = {"id": "(new)", "roles": sorted(p["roles"] or ["all"]),
                 "scopes": sorted(p["scopes"] or []), "expires_at": "(new)"}
    result["diff"] = dict(before=diff_before, after=after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
