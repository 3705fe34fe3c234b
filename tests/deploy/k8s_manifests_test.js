#!/usr/bin/env node
// Validates deploy/kubernetes/*.yaml without a cluster:
//
// 1. Schema: every document against the Kubernetes API schema of its kind
//    (apiVersion + kind), as generated from the Kubernetes OpenAPI spec by
//    the npm package kubernetes-models (types, required fields, enums,
//    formats), plus a strict pass that rejects fields the API does not
//    define (the generated schemas allow unknown fields; the API server
//    drops or, with strict field validation, rejects them). The strict pass
//    walks the same package's interface definitions.
// 2. Project checks: probe ports match the container's --listen, the
//    metrics port matches --metrics-listen and the scrape annotation, the
//    --policy file is the ConfigMap key the documented `kubectl create
//    configmap` writes, every file flag lies under a mounted volume, every
//    secretKeyRef and secret volume names a Secret and key that a
//    documented `kubectl create secret` creates, $(VAR) references are
//    defined, Services and the PodDisruptionBudget select the pods, the
//    documented conninfo reaches the PostgreSQL StatefulSet.
//
// Not validated: anything that needs a cluster (admission, quotas, storage
// classes, image pulls, that the pods start). Usage:
//   node k8s_manifests_test.js MODULES_DIR MANIFEST_DIR
"use strict";
const fs = require("fs");
const path = require("path");

const [modulesDir, manifestDir] = process.argv.slice(2).map((p) => p && path.resolve(p));
if (!modulesDir || !manifestDir) {
  console.error("usage: k8s_manifests_test.js MODULES_DIR MANIFEST_DIR");
  process.exit(2);
}
const req = (m) => require(path.join(modulesDir, "node_modules", m));
const YAML = req("yaml");
const failures = [];
const check = (ok, what) => {
  console.log((ok ? "ok   " : "FAIL ") + what);
  if (!ok) failures.push(what);
  return ok;
};

// --- Strict field check over the interface definitions (.d.ts) ---------
const interfaceCache = new Map();
function parseInterface(file) {
  if (interfaceCache.has(file)) return interfaceCache.get(file);
  const text = fs.readFileSync(file, "utf8");
  const imports = {};
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) {
    const spec = m[2];
    imports[m[1]] = spec.startsWith(".")
      ? path.resolve(path.dirname(file), spec + ".d.ts")
      : path.join(modulesDir, "node_modules", spec + ".d.ts");
  }
  const body = text.match(/export interface I\w+(?: extends [^{]+)? \{\n([\s\S]*?)\n\}/);
  let props = null;
  if (body) {
    props = {};
    // A property: `    "name"?: Type;`, where Type may span lines
    // (`{\n [key: string]: string;\n }`); read until brackets balance.
    let name = null;
    let type = "";
    const depth = (t) => (t.match(/[{<(]/g) || []).length - (t.match(/[}>)]/g) || []).length;
    for (const line of body[1].split("\n")) {
      const start = line.match(/^ {4}"([^"]+)"\??: (.*)$/);
      if (name === null && start) {
        name = start[1];
        type = start[2];
      } else if (name !== null) {
        type += " " + line.trim();
      } else {
        continue;
      }
      if (depth(type.replace(/=>/g, "")) === 0 && type.endsWith(";")) {
        props[name] = type.slice(0, -1).replace(/\s+/g, " ");
        name = null;
      }
    }
  }
  const parsed = { props, imports };
  interfaceCache.set(file, parsed);
  return parsed;
}

// The interface file a property type refers to (through arrays and maps),
// or null for a scalar.
function typeTarget(type, imports) {
  let t = type.trim();
  for (;;) {
    const arr = t.match(/^Array<(.+)>$/);
    const map = t.match(/^\{\s*\[key: string\]: (.+?);?\s*\}$/);
    if (arr) t = arr[1].trim();
    else if (map) t = map[1].trim();
    else break;
  }
  return imports[t] || null;
}

function strictWalk(value, file, where, errors) {
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => strictWalk(v, file, `${where}[${i}]`, errors));
    return;
  }
  const { props, imports } = parseInterface(file);
  if (!props) return;  // a scalar alias (Quantity, IntOrString, ...)
  const isMap = (t) => /^\{\s*\[key: string\]/.test(t.trim());
  for (const [key, v] of Object.entries(value)) {
    if (!(key in props)) {
      errors.push(`${where}.${key}: unknown field (allowed: ${Object.keys(props).join(", ")})`);
      continue;
    }
    const target = typeTarget(props[key], imports);
    if (!target) continue;
    if (isMap(props[key]) && v && typeof v === "object") {
      for (const [k, item] of Object.entries(v)) strictWalk(item, target, `${where}.${key}.${k}`, errors);
    } else {
      strictWalk(v, target, `${where}.${key}`, errors);
    }
  }
}

function modelPath(apiVersion, kind) {
  return path.join(modulesDir, "node_modules", "kubernetes-models", apiVersion, kind);
}

// --- Documented kubectl commands: the ConfigMaps and Secrets they create --
function documentedObjects(text) {
  const joined = text.split("\n")
    .map((l) => l.replace(/^#\s?/, ""))
    .join("\n")
    .replace(/\\\n\s*/g, " ");
  const objects = { configmap: {}, secret: {} };
  for (const line of joined.split("\n")) {
    const m = line.match(/kubectl .*create (configmap|secret generic|secret tls) ([a-z0-9-]+)(.*)/);
    if (!m) continue;
    const kind = m[1] === "configmap" ? "configmap" : "secret";
    const keys = new Set(m[1] === "secret tls" ? ["tls.crt", "tls.key"] : []);
    for (const k of m[3].matchAll(/--from-(?:file|literal)=([A-Za-z0-9._-]+)=/g)) keys.add(k[1]);
    objects[kind][m[2]] = new Set([...(objects[kind][m[2]] || []), ...keys]);
  }
  return objects;
}

function flagsOf(args) {
  const flags = {};
  for (const a of args || []) {
    const m = a.match(/^(--[a-z0-9-]+)=(.*)$/);
    if (m) flags[m[1]] = m[2];
  }
  return flags;
}
const portOf = (address) => Number(String(address).split(":").pop());
const labelsMatch = (selector, labels) =>
  Object.entries(selector || {}).every(([k, v]) => (labels || {})[k] === v);

// --- Main ----------------------------------------------------------------
const files = fs.readdirSync(manifestDir).filter((f) => /\.ya?ml$/.test(f)).sort();
check(files.length >= 2, `manifests found: ${files.join(", ")}`);
const docs = [];
const documented = { configmap: {}, secret: {} };
for (const f of files) {
  const text = fs.readFileSync(path.join(manifestDir, f), "utf8");
  const parsedDocs = YAML.parseAllDocuments(text);
  for (const d of parsedDocs) {
    check(d.errors.length === 0, `${f}: YAML parses ${d.errors.map(String).join("; ")}`);
    const obj = d.toJS();
    if (obj) docs.push({ file: f, obj });
  }
  const found = documentedObjects(text);
  for (const kind of ["configmap", "secret"]) {
    for (const [name, keys] of Object.entries(found[kind])) {
      documented[kind][name] = new Set([...(documented[kind][name] || []), ...keys]);
    }
  }
}

// 1. Schemas.
for (const { file, obj } of docs) {
  const where = `${file}: ${obj.kind}/${obj.metadata && obj.metadata.name}`;
  const model = modelPath(obj.apiVersion, obj.kind);
  if (!fs.existsSync(model + ".js")) {
    check(false, `${where}: no Kubernetes API schema for ${obj.apiVersion} ${obj.kind}`);
    continue;
  }
  const Cls = require(model)[obj.kind];
  let error = "";
  try {
    new Cls(obj).validate();
  } catch (e) {
    error = e.message;
  }
  check(error === "", `${where}: valid against the ${obj.apiVersion} ${obj.kind} schema ${error}`);
  const unknown = [];
  strictWalk(obj, model + ".d.ts", obj.kind, unknown);
  check(unknown.length === 0, `${where}: no field unknown to the API ${unknown.join("; ")}`);
}

// Objects by kind and name, manifests plus documented commands.
const byKind = (kind) => docs.filter((d) => d.obj.kind === kind).map((d) => d.obj);
const secrets = { ...documented.secret };
for (const s of byKind("Secret")) secrets[s.metadata.name] = new Set(Object.keys({ ...s.data, ...s.stringData }));
const configMaps = { ...documented.configmap };
for (const c of byKind("ConfigMap")) configMaps[c.metadata.name] = new Set(Object.keys(c.data || {}));

// 2. Project checks on every workload.
const workloads = [...byKind("Deployment"), ...byKind("StatefulSet")];
for (const w of workloads) {
  const name = `${w.kind}/${w.metadata.name}`;
  const pod = w.spec.template;
  check(labelsMatch(w.spec.selector.matchLabels, pod.metadata.labels), `${name}: selector matches its pod labels`);
  const volumes = Object.fromEntries((pod.spec.volumes || []).map((v) => [v.name, v]));
  for (const c of pod.spec.containers) {
    const cname = `${name}/${c.name}`;
    const mounts = (c.volumeMounts || []).map((m) => ({ ...m, volume: volumes[m.name] }));
    for (const m of mounts) check(m.volume !== undefined || (w.spec.volumeClaimTemplates || []).some((t) => t.metadata.name === m.name), `${cname}: volume ${m.name} is defined`);
    const env = Object.fromEntries((c.env || []).map((e) => [e.name, e]));
    // A file path must lie under a mount; a ConfigMap/Secret mount's file
    // must be one of its keys.
    const checkFile = (flag, file) => {
      const m = mounts.find((mm) => file.startsWith(mm.mountPath + "/"));
      if (!check(m !== undefined || file.startsWith("/var/lib/treatd/intel/") || file.startsWith("/usr/local/bin/"),
        `${cname}: ${flag}=${file} is in the image or under a mount`)) return;
      if (!m || !m.volume) return;
      const key = file.slice(m.mountPath.length + 1);
      if (m.volume.configMap) {
        const keys = configMaps[m.volume.configMap.name];
        check(keys !== undefined && keys.has(key), `${cname}: ${flag}: ConfigMap ${m.volume.configMap.name} (manifest or documented kubectl command) has key ${key}`);
      } else if (m.volume.secret) {
        const keys = secrets[m.volume.secret.secretName];
        check(keys !== undefined && keys.has(key), `${cname}: ${flag}: Secret ${m.volume.secret.secretName} (manifest or documented kubectl command) has key ${key}`);
      }
    };
    for (const e of Object.values(env)) {
      const ref = e.valueFrom && e.valueFrom.secretKeyRef;
      if (ref) check(secrets[ref.name] !== undefined && secrets[ref.name].has(ref.key), `${cname}: env ${e.name}: Secret ${ref.name} has key ${ref.key}`);
    }
    for (const v of Object.values(volumes)) {
      if (v.secret) check(secrets[v.secret.secretName] !== undefined, `${name}: volume ${v.name}: Secret ${v.secret.secretName} is created`);
      if (v.configMap) check(configMaps[v.configMap.name] !== undefined, `${name}: volume ${v.name}: ConfigMap ${v.configMap.name} is created`);
    }
    for (const a of c.args || []) {
      for (const r of a.matchAll(/\$\(([A-Z0-9_]+)\)/g)) check(r[1] in env, `${cname}: $(${r[1]}) in ${a.split("=")[0]} is defined in env`);
    }
    const ports = Object.fromEntries((c.ports || []).map((p) => [p.name, p.containerPort]));
    if (w.metadata.name !== "treatd") continue;

    // treatd: ports, probes, files.
    const flags = flagsOf(c.args);
    const listen = portOf(flags["--listen"]);
    const metrics = portOf(flags["--metrics-listen"]);
    check(ports.grpc === listen, `${cname}: containerPort grpc (${ports.grpc}) is the --listen port (${listen})`);
    check(ports.metrics === metrics, `${cname}: containerPort metrics (${ports.metrics}) is the --metrics-listen port (${metrics})`);
    const annotations = pod.metadata.annotations || {};
    check(Number(annotations["prometheus.io/port"]) === metrics, `${cname}: scrape annotation port is the metrics port`);
    for (const kind of ["readinessProbe", "livenessProbe"]) {
      const probe = c[kind];
      if (!check(probe !== undefined, `${cname}: has a ${kind}`)) continue;
      if (probe.grpc) {
        const p = probe.grpc.port;
        check(p === listen || ports[p] === listen, `${cname}: ${kind} gRPC port ${p} is the --listen port`);
        check(!flags["--tls-cert"], `${cname}: ${kind}: the kubelet's gRPC probe speaks plaintext, so --listen must not be TLS`);
      } else if (probe.exec) {
        const cmd = probe.exec.command;
        const pflags = flagsOf(cmd);
        check(cmd[0] === "/usr/local/bin/treatctl" && cmd[1] === "health", `${cname}: ${kind} runs treatctl health (grpc.health.v1 Check)`);
        check(portOf(pflags["--target"]) === listen, `${cname}: ${kind} --target port is the --listen port`);
        check(Boolean(pflags["--tls-ca"]) === Boolean(flags["--tls-cert"]), `${cname}: ${kind} uses TLS exactly when the server does`);
        if (pflags["--tls-ca"]) checkFile(`${kind} --tls-ca`, pflags["--tls-ca"]);
        check(Number(pflags["--timeout"]) < (probe.timeoutSeconds || 1), `${cname}: ${kind} --timeout is shorter than timeoutSeconds`);
      } else {
        check(false, `${cname}: ${kind} is a gRPC health check`);
      }
    }
    for (const flag of ["--policy", "--kev", "--epss", "--tls-cert", "--tls-key", "--tokens-file"]) {
      if (flags[flag]) checkFile(flag, flags[flag]);
    }
    const policyMount = mounts.find((m) => flags["--policy"].startsWith(m.mountPath + "/"));
    check(policyMount && policyMount.volume.configMap && !policyMount.subPath,
      `${cname}: the policy comes from a ConfigMap mounted as a directory (subPath would never see updates)`);
    check(Number(flags["--reload-poll-ms"]) > 0, `${cname}: polls the policy file for changes`);
    const req = (c.resources || {}).requests || {};
    check(Boolean(req.memory && req.cpu), `${cname}: requests cpu and memory`);
    check(w.spec.replicas >= 2, `${name}: several replicas (${w.spec.replicas})`);
    check(Boolean(flags["--ledger-postgres"]), `${cname}: records into PostgreSQL (replicas share one ledger)`);
  }
}

// Services select pods and name real ports.
for (const s of byKind("Service")) {
  const targets = workloads.filter((w) => labelsMatch(s.spec.selector, w.spec.template.metadata.labels));
  if (!check(targets.length === 1, `Service/${s.metadata.name}: selects one workload's pods`)) continue;
  const ports = targets[0].spec.template.spec.containers.flatMap((c) => c.ports || []);
  for (const p of s.spec.ports) {
    check(ports.some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort), `Service/${s.metadata.name}: targetPort ${p.targetPort} is a container port`);
  }
}
const headless = byKind("Service").filter((s) => s.spec.clusterIP === "None" && labelsMatch(s.spec.selector, { "app.kubernetes.io/name": "treatd" }));
check(headless.length === 1, "a headless Service for treatd (client-side round robin over pod addresses)");
for (const p of byKind("PodDisruptionBudget")) {
  const w = workloads.find((x) => labelsMatch(p.spec.selector.matchLabels, x.spec.template.metadata.labels));
  check(w !== undefined, `PodDisruptionBudget/${p.metadata.name}: selects a workload`);
  if (w) check(p.spec.maxUnavailable !== undefined ? p.spec.maxUnavailable < w.spec.replicas : p.spec.minAvailable < w.spec.replicas,
    `PodDisruptionBudget/${p.metadata.name}: allows a drain yet keeps replicas (${w.spec.replicas})`);
}
// The documented conninfo reaches the StatefulSet with its database/user.
const allText = files.map((f) => fs.readFileSync(path.join(manifestDir, f), "utf8")).join("\n");
for (const st of byKind("StatefulSet")) {
  check(byKind("Service").some((s) => s.metadata.name === st.spec.serviceName && s.spec.clusterIP === "None"), `StatefulSet/${st.metadata.name}: its serviceName is a headless Service`);
  const env = Object.fromEntries(st.spec.template.spec.containers[0].env.filter((e) => e.value).map((e) => [e.name, e.value]));
  const host = `${st.metadata.name}-0.${st.spec.serviceName}`;
  const conninfo = allText.match(/conninfo="(host=[^"]+)"/);
  check(conninfo && conninfo[1].includes(`host=${host} `) && conninfo[1].includes(`dbname=${env.POSTGRES_DB} `) && conninfo[1].includes(`user=${env.POSTGRES_USER} `),
    `documented conninfo names host ${host}, database ${env.POSTGRES_DB} and user ${env.POSTGRES_USER}`);
  check((st.spec.volumeClaimTemplates || []).length === 1, `StatefulSet/${st.metadata.name}: data on a persistent volume claim`);
}

// The strict pass can fail: a misspelt field deep in the Deployment is
// reported (guards against a parser change silently accepting everything).
{
  const deployment = JSON.parse(JSON.stringify(byKind("Deployment")[0]));
  const probe = deployment.spec.template.spec.containers[0].readinessProbe;
  probe.periodSecond = probe.periodSeconds;
  delete probe.periodSeconds;
  const unknown = [];
  strictWalk(deployment, modelPath("apps/v1", "Deployment") + ".d.ts", "Deployment", unknown);
  check(unknown.length === 1 && unknown[0].includes("readinessProbe.periodSecond"),
    `self-check: a misspelt probe field is caught (${unknown.length} reported)`);
}

if (failures.length) {
  console.log(`kubernetes manifests: ${failures.length} checks failed`);
  process.exit(1);
}
console.log(`kubernetes manifests: every check passed (${docs.length} objects)`);
