#!/usr/bin/env python3
"""deploy/docker-compose.yml, deploy/Dockerfile and Grafana provisioning,
checked without Docker (no daemon here):

1. `docker-compose config -q` (Debian's docker-compose, which carries the
   Compose file schema) validates the file's structure offline.
2. Cross-file checks: every bind-mounted source exists in the tree; the
   build context and Dockerfile exist; Prometheus scrapes treatd's service
   name at its --metrics-listen port; the provisioned datasource's uid is the
   one every dashboard panel names and its URL is the Prometheus service;
   the dashboard provider's folder is where the dashboard JSON is mounted;
   the --policy file lies in a mounted folder and exists on the host;
   treatd's conninfo names the postgres service, database, user and
   password; the healthchecks run commands the image has.
3. The Dockerfile: the binaries it copies are the ones this build produces
   (same paths under the build directory), and every shared library they
   link comes from a Debian package that its runtime stage installs (or that
   is part of every Debian base image: Priority required). ldd and dpkg -S on
   this Debian 12 machine give the packages.

Not checked: that images build or containers start (no Docker daemon).
Usage: compose_test.py SOURCE_DIR BUILD_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)
    return ok


def flags(args):
    out = {}
    for a in args or []:
        m = re.match(r"^(--[a-z0-9-]+)=(.*)$", a)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def conninfo(text):
    return dict(kv.split("=", 1) for kv in text.split())


def packages_of(paths):
    """{path: Debian package that ships it, or None}, merged-/usr aware, with
    one dpkg -S call (each call reads the whole file database)."""
    variants = {}
    for path in paths:
        real = os.path.realpath(path)
        forms = {path, real}
        for p in list(forms):
            if p.startswith("/usr/lib/"):
                forms.add(p[len("/usr"):])
            elif p.startswith("/lib/"):
                forms.add("/usr" + p)
        variants[path] = forms
    every = sorted(set().union(*variants.values())) if variants else []
    r = subprocess.run(["dpkg", "-S"] + every, capture_output=True, text=True)
    owner = {}
    for line in r.stdout.splitlines():
        pkgs, _, p = line.partition(": ")
        owner[p.strip()] = pkgs.split(",")[0].split(":")[0].strip()
    return {path: next((owner[f] for f in forms if f in owner), None)
            for path, forms in variants.items()}


def closure_of(packages):
    """`packages` and everything they depend on (apt-cache, recursively)."""
    r = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends",
         "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
         "--no-enhances"] + list(packages),
        capture_output=True, text=True, timeout=120)
    names = set(packages)
    for line in r.stdout.splitlines():
        m = re.match(r"^\s*(?:\|?(?:Pre)?Depends: )?<?([a-z0-9.+-]+)", line)
        if m:
            names.add(m.group(1).split(":")[0])
    return names


def main():
    source, build = sys.argv[1], sys.argv[2]
    deploy = os.path.join(source, "deploy")
    compose_file = os.path.join(deploy, "docker-compose.yml")

    # 1. Schema.
    compose_bin = shutil.which("docker-compose")
    if check(compose_bin is not None,
             "docker-compose found (Debian package, from scripts/setup.sh)"):
        r = subprocess.run([compose_bin, "-f", compose_file, "config", "-q"],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0,
              f"docker-compose config: the file is valid {r.stderr.strip()}")

    # 2. Cross-file checks.
    with open(compose_file) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    check(set(services) == {"treatd", "postgres", "prometheus", "grafana"},
          f"services: {sorted(services)}")
    mounts = {}
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            src, dst = v.split(":")[0], v.split(":")[1]
            mounts.setdefault(name, {})[dst] = src
            if src.startswith("."):
                host = os.path.normpath(os.path.join(deploy, src))
                check(os.path.exists(host), f"{name}: mount source {src} exists")
        for p in svc.get("ports", []):
            check(str(p).startswith("127.0.0.1:"),
                  f"{name}: port {p} published on 127.0.0.1 only")
    treatd = services["treatd"]
    context = os.path.normpath(os.path.join(deploy, treatd["build"]["context"]))
    dockerfile = os.path.join(context, treatd["build"]["dockerfile"])
    check(os.path.isfile(dockerfile), f"treatd: build Dockerfile {dockerfile} exists")
    tf = flags(treatd["command"])
    metrics_port = tf["--metrics-listen"].rsplit(":", 1)[1]
    listen_port = tf["--listen"].rsplit(":", 1)[1]

    policy = tf["--policy"]
    policy_dir = os.path.dirname(policy)
    src = mounts["treatd"].get(policy_dir)
    check(src is not None,
          f"treatd: --policy's folder {policy_dir} is a mount (a folder, so "
          "an editor's rename reaches the container)")
    if src:
        check(os.path.isfile(os.path.join(deploy, src, os.path.basename(policy))),
              f"treatd: --policy file exists on the host ({src}/{os.path.basename(policy)})")
    info = conninfo(tf["--ledger-postgres"])
    penv = services["postgres"]["environment"]
    check(info.get("host") == "postgres" and info.get("dbname") == penv["POSTGRES_DB"]
          and info.get("user") == penv["POSTGRES_USER"]
          and info.get("password") == penv["POSTGRES_PASSWORD"],
          f"treatd: --ledger-postgres reaches the postgres service ({info})")
    check(treatd["depends_on"]["postgres"]["condition"] == "service_healthy",
          "treatd starts once PostgreSQL is healthy")
    hc = treatd["healthcheck"]["test"]
    check(hc[1] == "/usr/local/bin/treatctl" and hc[2] == "health"
          and flags(hc)["--target"].endswith(":" + listen_port),
          "treatd: healthcheck is treatctl health on the --listen port")

    with open(os.path.join(deploy, "prometheus", "prometheus.yml")) as f:
        prom = yaml.safe_load(f)
    targets = [t for job in prom["scrape_configs"]
               for sc in job.get("static_configs", []) for t in sc["targets"]]
    check(f"treatd:{metrics_port}" in targets,
          f"prometheus scrapes treatd:{metrics_port} ({targets})")
    check(mounts["prometheus"].get("/etc/prometheus/prometheus.yml") ==
          "./prometheus/prometheus.yml", "prometheus: its config is mounted")

    prov = mounts["grafana"].get("/etc/grafana/provisioning")
    with open(os.path.join(deploy, prov, "datasources", "prometheus.yaml")) as f:
        ds = yaml.safe_load(f)["datasources"]
    with open(os.path.join(deploy, prov, "dashboards", "treatd.yaml")) as f:
        providers = yaml.safe_load(f)["providers"]
    dash_target = [d for d, s in mounts["grafana"].items()
                   if s.endswith("treatd-dashboard.json")]
    check(len(dash_target) == 1, "grafana: the dashboard JSON is mounted")
    check(any(os.path.dirname(dash_target[0]) == p["options"]["path"]
              for p in providers),
          "grafana: a dashboard provider loads the folder the JSON is mounted in")
    check(services["grafana"]["environment"]
          ["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == dash_target[0],
          "grafana: the treatd dashboard is the home dashboard")
    uids = {d["uid"] for d in ds}
    check(any(d["url"] == "http://prometheus:9090" for d in ds),
          "grafana: the datasource points at the prometheus service")
    with open(os.path.join(deploy, "grafana", "treatd-dashboard.json")) as f:
        dash = json.load(f)
    check(bool(dash.get("uid")) and bool(dash.get("title")), "dashboard: uid and title")
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    check(len(panels) >= 10, f"dashboard: {len(panels)} panels")
    for p in panels:
        refs = [p["datasource"]["uid"]] + [t["datasource"]["uid"] for t in p["targets"]]
        check(all(u in uids for u in refs) and all(t.get("expr") for t in p["targets"]),
              f"dashboard: panel '{p['title']}' queries the provisioned datasource")
    ids = [p["id"] for p in dash["panels"]]
    check(len(ids) == len(set(ids)), "dashboard: panel ids are unique")

    # 3. The Dockerfile against this build.
    with open(dockerfile) as f:
        text = f.read().replace("\\\n", " ")
    copies = re.findall(r"COPY --from=build /src/build/(\S+) (\S+)", text)
    check(len(copies) >= 2, f"Dockerfile copies the binaries: {copies}")
    runtime = text.split("FROM debian:12-slim", 1)[1]
    apt = re.search(r"apt-get install -y --no-install-recommends ([^&]+)&&",
                    runtime)
    installed = set(apt.group(1).split()) if apt else set()
    check(bool(installed), f"runtime stage installs {len(installed)} packages")
    # What the runtime image holds: the installed packages with their
    # dependency closure, plus the closure of Debian's Essential packages
    # (in every base image).
    essential = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Essential}\\n"],
        capture_output=True, text=True).stdout
    base = [l.split()[0] for l in essential.splitlines() if l.endswith(" yes")]
    base.append("apt")  # debian:12-slim has apt (and its libraries)
    closure = closure_of(sorted(installed)) | closure_of(base)
    for rel, dest in copies:
        binary = os.path.join(build, rel)
        if not check(os.path.isfile(binary),
                     f"{rel} is what this build produces (for {dest})"):
            continue
        r = subprocess.run(["ldd", binary], capture_output=True, text=True)
        libs = re.findall(r"=> (/\S+) \(", r.stdout)
        missing = {lib: pkg for lib, pkg in packages_of(libs).items()
                   if pkg is None or pkg not in closure}
        check(not missing,
              f"{rel}: its {len(libs)} shared libraries come from packages the "
              f"runtime stage installs or their dependencies {missing}")

    if FAILURES:
        print(f"compose/Dockerfile: {len(FAILURES)} checks failed")
        return 1
    print("compose/Dockerfile: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
