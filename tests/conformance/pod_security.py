"""Pod Security Standards (`baseline`, `restricted`) as the admission plugin enforces them.

Why here: a namespace labelled ``pod-security.kubernetes.io/enforce: restricted`` (Kubeflow
Platform's ``kubeflow``, many managed clusters) rejects a pod that breaks any rule, and a Job or
Deployment whose pods are rejected just never starts: the Trial or Suggestion hangs with no error
on the object the user is watching. These checks let every test prove, without a cluster, that a
pod template we ship would be admitted.

The rules are those of the upstream implementation (`PSA.cite(...)` below names each file), at
the Kubernetes minor we test against (1.32, the kind node image of scripts/e2e-kind.sh): the
newest version of each check whose ``MinimumVersion`` is <= 1.32, restricted checks replacing the
baseline checks they override (``OverrideCheckIDs``). Messages use the upstream wording, so a
failure reads like the API server's ``violates PodSecurity "restricted:latest"`` error.
The opt-in user-namespace relaxation (``RelaxPolicyForUserNamespacePods``, off by default) is
not modelled.

API for other tests:

    from tests.conformance.pod_security import violations, pod_templates
    assert violations(pod_spec) == []                          # restricted
    assert violations(pod_spec, level="baseline") == []
    for where, metadata, spec in pod_templates(any_k8s_object): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tests.conformance.pins import PSA

LEVELS = ("baseline", "restricted")

# check_capabilities_baseline.go: capabilities_allowed_1_0.
_BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
# check_sysctls.go: sysctlsAllowedV1Dot32.
_SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"})
# check_seLinuxOptions.go: selinuxAllowedTypes1_31.
_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t",
                            "container_engine_t"})
# check_restrictedVolumes.go: the only inline volume sources `restricted` allows.
_RESTRICTED_VOLUME_SOURCES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret"})
_SECCOMP_OK = frozenset({"RuntimeDefault", "Localhost"})
_APPARMOR_OK = frozenset({"RuntimeDefault", "Localhost"})
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"

Check = Callable[[dict[str, Any], dict[str, Any]], "str | None"]


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """visitor.go visitContainers: init, regular, then ephemeral containers."""
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or []),
            *(spec.get("ephemeralContainers") or [])]


def _sc(container: dict[str, Any]) -> dict[str, Any]:
    return container.get("securityContext") or {}


def _pod_sc(spec: dict[str, Any]) -> dict[str, Any]:
    return spec.get("securityContext") or {}


def _windows(spec: dict[str, Any]) -> bool:
    """The 1.25+ versions of several restricted checks skip pods with spec.os.name=windows."""
    return (spec.get("os") or {}).get("name") == "windows"


def _names(containers: list[dict[str, Any]]) -> str:
    noun = "container" if len(containers) == 1 else "containers"
    return f"{noun} " + ", ".join(f'"{c.get("name", "")}"' for c in containers)


# ------------------------------------------------------------------------- baseline checks
def _host_namespaces(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_hostNamespaces.go hostNamespaces_1_0."""
    bad = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return "host namespaces (" + ", ".join(bad) + ")" if bad else None


def _privileged(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_privileged.go privileged_1_0."""
    bad = [c for c in _containers(spec) if _sc(c).get("privileged") is True]
    return (f"privileged ({_names(bad)} must not set securityContext.privileged=true)"
            if bad else None)


def _capabilities_baseline(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_capabilities_baseline.go capabilitiesBaseline_1_0."""
    bad = [c for c in _containers(spec)
           if set((_sc(c).get("capabilities") or {}).get("add") or []) - _BASELINE_CAPABILITIES]
    return (f"non-default capabilities ({_names(bad)} must not include non-default "
            "capabilities in securityContext.capabilities.add)" if bad else None)


def _host_path_volumes(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_hostPathVolumes.go hostPathVolumes_1_0."""
    bad = [v.get("name", "") for v in spec.get("volumes") or [] if "hostPath" in v]
    return f"hostPath volumes ({', '.join(bad)})" if bad else None


def _host_ports(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_hostPorts.go hostPorts_1_0."""
    bad = [c for c in _containers(spec) if any(p.get("hostPort") for p in c.get("ports") or [])]
    return f"hostPort ({_names(bad)} use hostPorts)" if bad else None


def _apparmor(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_appArmorProfile.go appArmorProfile_1_0 (fields and the deprecated annotations)."""
    setters = []
    if "appArmorProfile" in _pod_sc(spec) and (
            _pod_sc(spec)["appArmorProfile"] or {}).get("type") not in _APPARMOR_OK:
        setters.append("pod")
    bad = [c for c in _containers(spec) if "appArmorProfile" in _sc(c)
           and (_sc(c)["appArmorProfile"] or {}).get("type") not in _APPARMOR_OK]
    if bad:
        setters.append(_names(bad))
    for key, value in ((meta or {}).get("annotations") or {}).items():
        if key.startswith(_APPARMOR_ANNOTATION) and not (
                value in ("", "runtime/default") or value.startswith("localhost/")):
            setters.append(f"annotation {key}={value!r}")
    return (f"forbidden AppArmor profile ({' and '.join(setters)} must not set AppArmor "
            "profile type to an unconfined or unknown profile)" if setters else None)


def _selinux(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_seLinuxOptions.go seLinuxOptions1_31."""

    def bad(opts: dict[str, Any] | None) -> bool:
        return opts is not None and (opts.get("type", "") not in _SELINUX_TYPES
                                     or bool(opts.get("user")) or bool(opts.get("role")))

    setters = ["pod"] if bad(_pod_sc(spec).get("seLinuxOptions")) else []
    containers = [c for c in _containers(spec) if bad(_sc(c).get("seLinuxOptions"))]
    if containers:
        setters.append(_names(containers))
    return (f"seLinuxOptions ({' and '.join(setters)} set forbidden "
            "securityContext.seLinuxOptions)" if setters else None)


def _proc_mount(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_procMount.go procMount_1_0."""
    bad = [c for c in _containers(spec) if _sc(c).get("procMount") not in (None, "Default")]
    return (f"procMount ({_names(bad)} must not set securityContext.procMount)"
            if bad else None)


def _seccomp_baseline(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_seccompProfile_baseline.go seccompProfileBaseline_1_19: if set, a safe type."""
    setters = []
    if "seccompProfile" in _pod_sc(spec) and (
            _pod_sc(spec)["seccompProfile"] or {}).get("type") not in _SECCOMP_OK:
        setters.append("pod")
    bad = [c for c in _containers(spec) if "seccompProfile" in _sc(c)
           and (_sc(c)["seccompProfile"] or {}).get("type") not in _SECCOMP_OK]
    if bad:
        setters.append(_names(bad))
    return (f"seccompProfile ({' and '.join(setters)} must not set "
            "securityContext.seccompProfile.type to Unconfined)" if setters else None)


def _sysctls(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_sysctls.go sysctlsV1Dot32."""
    bad = [s.get("name", "") for s in _pod_sc(spec).get("sysctls") or []
           if s.get("name") not in _SAFE_SYSCTLS]
    return f"forbidden sysctls ({', '.join(bad)})" if bad else None


def _windows_host_process(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_windowsHostProcess.go windowsHostProcess_1_0."""
    setters = ["pod"] if (_pod_sc(spec).get("windowsOptions") or {}).get("hostProcess") else []
    bad = [c for c in _containers(spec) if (_sc(c).get("windowsOptions") or {}).get(
        "hostProcess")]
    if bad:
        setters.append(_names(bad))
    return (f"hostProcess ({' and '.join(setters)} must not set "
            "securityContext.windowsOptions.hostProcess=true)" if setters else None)


# ----------------------------------------------------------------------- restricted checks
def _restricted_volumes(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_restrictedVolumes.go restrictedVolumes_1_0 (overrides hostPathVolumes)."""
    bad = [v.get("name", "") for v in spec.get("volumes") or []
           if not set(v) - {"name"} <= _RESTRICTED_VOLUME_SOURCES]
    return (f"restricted volume types (volumes {', '.join(bad)} use a source other than "
            f"{', '.join(sorted(_RESTRICTED_VOLUME_SOURCES))})" if bad else None)


def _allow_privilege_escalation(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_allowPrivilegeEscalation.go allowPrivilegeEscalation_1_25."""
    if _windows(spec):
        return None
    bad = [c for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    return (f"allowPrivilegeEscalation != false ({_names(bad)} must set "
            "securityContext.allowPrivilegeEscalation=false)" if bad else None)


def _run_as_non_root(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_runAsNonRoot.go runAsNonRoot_1_0: pod-level true covers unset containers."""
    pod = _pod_sc(spec).get("runAsNonRoot")
    explicit = [c for c in _containers(spec) if _sc(c).get("runAsNonRoot") is False]
    if pod is False or explicit:
        who = (["pod"] if pod is False else []) + ([_names(explicit)] if explicit else [])
        return (f"runAsNonRoot != true ({' and '.join(who)} must not set "
                "securityContext.runAsNonRoot=false)")
    implicit = [c for c in _containers(spec) if _sc(c).get("runAsNonRoot") is None]
    if implicit and pod is not True:
        return (f"runAsNonRoot != true (pod or {_names(implicit)} must set "
                "securityContext.runAsNonRoot=true)")
    return None


def _run_as_user(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_runAsUser.go runAsUser_1_23: uid 0 is forbidden anywhere."""
    who = ["pod"] if _pod_sc(spec).get("runAsUser") == 0 else []
    bad = [c for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    if bad:
        who.append(_names(bad))
    return f"runAsUser=0 ({' and '.join(who)} must not set runAsUser=0)" if who else None


def _seccomp_restricted(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_seccompProfile_restricted.go seccompProfileRestricted_1_25: must be set."""
    if _windows(spec):
        return None
    bad_values = _seccomp_baseline(meta, spec)
    if bad_values:
        return bad_values
    if (_pod_sc(spec).get("seccompProfile") or {}).get("type") in _SECCOMP_OK:
        return None
    implicit = [c for c in _containers(spec) if "seccompProfile" not in _sc(c)]
    return (f'seccompProfile (pod or {_names(implicit)} must set '
            'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
            if implicit else None)


def _capabilities_restricted(meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """check_capabilities_restricted.go capabilitiesRestricted_1_25: drop ALL, add at most
    NET_BIND_SERVICE (overrides capabilities_baseline)."""
    if _windows(spec):
        return None
    details = []
    missing = [c for c in _containers(spec)
               if "ALL" not in ((_sc(c).get("capabilities") or {}).get("drop") or [])]
    if missing:
        details.append(f'{_names(missing)} must set securityContext.capabilities.drop=["ALL"]')
    adding = [c for c in _containers(spec)
              if set((_sc(c).get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}]
    if adding:
        details.append(f"{_names(adding)} must not add capabilities other than "
                       "NET_BIND_SERVICE in securityContext.capabilities.add")
    return f"unrestricted capabilities ({'; '.join(details)})" if details else None


# (id, level, function, ids it overrides): the registry of policy/*.go at PSA's release.
CHECKS: tuple[tuple[str, str, Check, tuple[str, ...]], ...] = (
    ("hostNamespaces", "baseline", _host_namespaces, ()),
    ("privileged", "baseline", _privileged, ()),
    ("capabilities_baseline", "baseline", _capabilities_baseline, ()),
    ("hostPathVolumes", "baseline", _host_path_volumes, ()),
    ("hostPorts", "baseline", _host_ports, ()),
    ("appArmorProfile", "baseline", _apparmor, ()),
    ("seLinuxOptions", "baseline", _selinux, ()),
    ("procMount", "baseline", _proc_mount, ()),
    ("seccompProfile_baseline", "baseline", _seccomp_baseline, ()),
    ("sysctls", "baseline", _sysctls, ()),
    ("windowsHostProcess", "baseline", _windows_host_process, ()),
    ("restrictedVolumes", "restricted", _restricted_volumes, ("hostPathVolumes",)),
    ("allowPrivilegeEscalation", "restricted", _allow_privilege_escalation, ()),
    ("runAsNonRoot", "restricted", _run_as_non_root, ()),
    ("runAsUser", "restricted", _run_as_user, ()),
    ("seccompProfile_restricted", "restricted", _seccomp_restricted,
     ("seccompProfile_baseline",)),
    ("capabilities_restricted", "restricted", _capabilities_restricted,
     ("capabilities_baseline",)),
)
# Where each rule comes from (policy/check_<id>.go at PSA's release), for messages and docs.
SOURCES = {check_id: PSA.cite(f"policy/check_{check_id}.go") for check_id, *_ in CHECKS}


def violations(pod_spec: dict[str, Any], metadata: dict[str, Any] | None = None,
               level: str = "restricted") -> list[str]:
    """Every rule of `level` the pod breaks, as ``"<check id>: <reason (detail)>"``.

    `pod_spec` is a core/v1 PodSpec as a dict (a pod's or a template's ``spec``); `metadata`
    its metadata (only annotations are read). An empty list means the pod would be admitted.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    active = [c for c in CHECKS if level == "restricted" or c[1] == "baseline"]
    overridden = {o for c in active for o in c[3]}
    out = []
    for check_id, _, check, _ in active:
        if check_id in overridden:
            continue
        problem = check(metadata or {}, pod_spec)
        if problem:
            out.append(f"{check_id}: {problem}")
    return out


def pod_templates(obj: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any],
                                                               dict[str, Any]]]:
    """(path, metadata, pod spec) for every pod spec inside any object, at any depth.

    A pod spec is a mapping with a ``containers`` list of named mappings: that finds Pods,
    every workload's ``spec.template.spec``, a Katib Experiment's trialSpec (and whatever
    kind it embeds: Job, PyTorchJob replicas, TrainJob overrides), KServe predictors that
    inline containers, and kinds added later, without a per-kind table to keep in step.
    The metadata is that of the enclosing template (the mapping holding ``spec``), if any.
    """
    if isinstance(obj, dict):
        containers = obj.get("containers")
        if isinstance(containers, list) and containers and all(
                isinstance(c, dict) and "name" in c for c in containers):
            yield path or ".", {}, obj
            return
        for key, value in obj.items():
            where = f"{path}.{key}"
            if key == "spec" and isinstance(value, dict) and isinstance(
                    value.get("containers"), list):
                yield where, obj.get("metadata") or {}, value
                continue
            yield from pod_templates(value, where)
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from pod_templates(item, f"{path}[{i}]")
