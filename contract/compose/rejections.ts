// The service fields berth refuses, each with its own message and what to do instead, and the
// other fields Compose knows (refused with a generic message).
import type { Rejection } from "./read";
import type { YEntry } from "./tree";

function scalarText(e: YEntry): string {
  return e.value.kind === "scalar" && e.value.value !== null ? String(e.value.value) : "";
}

const NETWORKS_HINT = "remove it; services talk over the environment's network, or the networks: you list";

export const SERVICE_REJECTED: Readonly<Record<string, Rejection>> = {
  privileged: {
    message: "privileged containers are not allowed: they get root on the node",
    hint: "remove privileged:; berth runs containers unprivileged",
  },
  cap_add: {
    message: "adding Linux capabilities (cap_add) is not allowed",
    hint: "remove cap_add:; listen on a port above 1024 instead of needing NET_BIND_SERVICE",
  },
  devices: {
    message: "host devices (devices) cannot be passed to containers",
    hint: "remove devices:; berth nodes run network services, not hardware access",
  },
  device_cgroup_rules: {
    message: "device_cgroup_rules give access to host devices and are not allowed",
    hint: "remove device_cgroup_rules:",
  },
  network_mode: (e) => {
    const v = scalarText(e);
    if (v === "host") {
      return {
        message: "network_mode: host is not allowed: it shares the node's network stack with the container",
        hint: "remove it; route traffic with x-berth-routes and let services talk over networks:",
      };
    }
    if (v.startsWith("container:") || v.startsWith("service:")) {
      return {
        message: `network_mode: ${v.split(":")[0]}: is not allowed: it joins another container's network namespace`,
        hint: "put both services on the same network under networks: and talk to the other by its service name",
      };
    }
    return { message: "network_mode is not supported", hint: NETWORKS_HINT };
  },
  pid: (e) =>
    scalarText(e) === "host"
      ? {
          message: "pid: host is not allowed: it shows the node's processes to the container",
          hint: "remove pid:",
        }
      : { message: "pid is not supported: containers get their own process namespace", hint: "remove pid:" },
  ipc: (e) =>
    scalarText(e) === "host"
      ? {
          message:
            "ipc: host is not allowed: it shares the node's IPC namespace (shared memory) with the container",
          hint: "remove ipc:",
        }
      : { message: "ipc is not supported: containers get their own IPC namespace", hint: "remove ipc:" },
  userns_mode: (e) =>
    scalarText(e) === "host"
      ? {
          message: "userns_mode: host is not allowed: it turns off user-namespace remapping",
          hint: "remove userns_mode:",
        }
      : { message: "userns_mode is not supported", hint: "remove userns_mode:" },
  uts: (e) =>
    scalarText(e) === "host"
      ? { message: "uts: host is not allowed: it shares the node's host name", hint: "remove uts:" }
      : { message: "uts is not supported", hint: "remove uts:" },
  cgroup: (e) =>
    scalarText(e) === "host"
      ? {
          message: "cgroup: host is not allowed: it shows the node's cgroup tree to the container",
          hint: "remove cgroup:",
        }
      : {
          message: "cgroup is not supported: containers get their own cgroup namespace",
          hint: "remove cgroup:",
        },
  cgroup_parent: {
    message:
      "cgroup_parent is not allowed: it moves the container out of the limits berth sets per environment",
    hint: "remove cgroup_parent:; bound the service with mem_limit and cpus",
  },
  security_opt: {
    message: "security_opt is not allowed: it can turn off seccomp, AppArmor or SELinux confinement",
    hint: "remove security_opt:",
  },
  sysctls: {
    message: "sysctls are not allowed: they change kernel settings",
    hint: "remove sysctls:; tune the kernel on the node itself if the app truly needs it",
  },
  use_api_socket: {
    message:
      "use_api_socket is not allowed: it gives the container the Docker socket, which is root on the node",
    hint: "remove use_api_socket:",
  },
  volumes_from: {
    message: "volumes_from is not supported: it shares another container's mounts",
    hint: "mount the same named volume in both services, e.g. volumes: [data:/path]",
  },
  container_name: {
    message: "container_name is not allowed: berth names containers per environment and release",
    hint: "remove it; other services reach this one by its service name",
  },
  pre_start: {
    message: "pre_start is not supported: the node's Docker Compose (2.26) does not know it",
    hint: 'run the step in the service\'s command before the server starts, e.g. command: ["sh", "-c", "./migrate && exec ./server"]',
  },
  external_links: {
    message: "external_links is not supported: a release only reaches its own services",
    hint: "remove external_links:",
  },
  gpus: { message: "gpus are not supported: berth nodes have no GPUs", hint: "remove gpus:" },
  runtime: {
    message:
      "runtime is not supported: containers run with the node's default runtime (another one may not confine them the same way)",
    hint: "remove runtime:",
  },
  provider: {
    message:
      "provider is not supported: it hands the service to a tool on the deploying machine (a cloud database, a model runner), which a node cannot run",
    hint: "run that service as a container in this file, or create the resource with Pulumi and pass its address as a variable",
  },
  models: {
    message:
      "models is not supported: Compose asks a model runner on the deploying machine for them, which a node does not have",
    hint: "run the model server as a service of this file and give the app its URL in environment:",
  },
  memswap_limit: {
    message: "memswap_limit is not supported: berth nodes run without swap for containers",
    hint: "use deploy.resources.limits.memory (or mem_limit)",
  },
  oom_kill_disable: {
    message:
      "oom_kill_disable is not allowed: a container that cannot be killed when out of memory starves the node",
    hint: "remove it, and give the service the memory it needs with mem_limit",
  },
  oom_score_adj: {
    message: "oom_score_adj is not allowed: it makes the kernel kill other environments' containers first",
    hint: "remove it; give the service the memory it needs with mem_limit",
  },
  mem_swappiness: {
    message: "mem_swappiness is not supported: containers on a node do not swap",
    hint: "remove it",
  },
  cpu_count: { message: "cpu_count is Windows-only", hint: "use cpus: (or deploy.resources.limits.cpus)" },
  cpu_percent: {
    message: "cpu_percent is Windows-only",
    hint: "use cpus: (or deploy.resources.limits.cpus)",
  },
  cpu_shares: {
    message: "cpu_shares is not supported: berth shares CPU between environments by their cpus limits",
    hint: "use cpus: (or deploy.resources.limits.cpus)",
  },
  cpu_period: { message: "cpu_period is not supported", hint: "use cpus: (or deploy.resources.limits.cpus)" },
  cpu_quota: { message: "cpu_quota is not supported", hint: "use cpus: (or deploy.resources.limits.cpus)" },
  cpu_rt_period: {
    message: "cpu_rt_period is not allowed: real-time scheduling takes CPU from every other container",
    hint: "remove it; use cpus:",
  },
  cpu_rt_runtime: {
    message: "cpu_rt_runtime is not allowed: real-time scheduling takes CPU from every other container",
    hint: "remove it; use cpus:",
  },
  cpuset: {
    message: "cpuset is not supported: it pins the container to CPUs that other environments share",
    hint: "use cpus: to bound its CPU time",
  },
  blkio_config: {
    message: "blkio_config is not supported: it names the node's block devices",
    hint: "remove it",
  },
  storage_opt: {
    message: "storage_opt is not supported: it depends on the node's storage driver",
    hint: "remove it; keep data in a named volume",
  },
  credential_spec: { message: "credential_spec is Windows-only", hint: "remove it" },
  isolation: { message: "isolation is Windows-only", hint: "remove it" },
  annotations: {
    message:
      "annotations are not supported: they are read by the node's container runtime, which berth configures",
    hint: "use labels:",
  },
  mac_address: {
    message: "mac_address is not supported: addresses on a node's networks are Docker's to choose",
    hint: "remove it; reach the service by its name",
  },
  attach: {
    message: "attach is not supported: berth never attaches to a container's output",
    hint: "remove it; read logs with berth logs",
  },
  develop: {
    message:
      "develop (compose watch) is not supported: a release runs built images, nothing syncs files into them",
    hint: "remove it from the file you deploy, or keep it in a compose.override.yaml for development",
  },
  pull_refresh_after: {
    message: "pull_refresh_after is not supported: berth pins every image to a digest at preview",
    hint: "remove it; run pulumi up to take a newer image",
  },
};

/** Every service field of the Compose specification (compose-spec.json). */
export const COMPOSE_SERVICE_FIELDS: readonly string[] = [
  "annotations",
  "attach",
  "blkio_config",
  "build",
  "cap_add",
  "cap_drop",
  "cgroup",
  "cgroup_parent",
  "command",
  "configs",
  "container_name",
  "cpu_count",
  "cpu_percent",
  "cpu_period",
  "cpu_quota",
  "cpu_rt_period",
  "cpu_rt_runtime",
  "cpu_shares",
  "cpus",
  "cpuset",
  "credential_spec",
  "depends_on",
  "deploy",
  "develop",
  "device_cgroup_rules",
  "devices",
  "dns",
  "dns_opt",
  "dns_search",
  "domainname",
  "entrypoint",
  "env_file",
  "environment",
  "expose",
  "extends",
  "external_links",
  "extra_hosts",
  "gpus",
  "group_add",
  "healthcheck",
  "hostname",
  "image",
  "init",
  "ipc",
  "isolation",
  "label_file",
  "labels",
  "links",
  "logging",
  "mac_address",
  "mem_limit",
  "mem_reservation",
  "mem_swappiness",
  "memswap_limit",
  "models",
  "network_mode",
  "networks",
  "oom_kill_disable",
  "oom_score_adj",
  "pid",
  "pids_limit",
  "platform",
  "ports",
  "post_start",
  "pre_start",
  "pre_stop",
  "privileged",
  "profiles",
  "provider",
  "pull_policy",
  "pull_refresh_after",
  "read_only",
  "restart",
  "runtime",
  "scale",
  "secrets",
  "security_opt",
  "shm_size",
  "stdin_open",
  "stop_grace_period",
  "stop_signal",
  "storage_opt",
  "sysctls",
  "tmpfs",
  "tty",
  "ulimits",
  "use_api_socket",
  "user",
  "userns_mode",
  "uts",
  "volumes",
  "volumes_from",
  "working_dir",
];
