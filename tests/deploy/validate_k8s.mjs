#!/usr/bin/env node
// Validates Kubernetes objects offline against the Kubernetes schemas.
//
// Usage: node validate_k8s.mjs TOOLS_DIR < objects
//   TOOLS_DIR  tests/tools (its node_modules holds kubernetes-models, the
//              CRD models and yaml; scripts/install-test-tools.sh installs them)
//   objects    a multi-document YAML stream, or a JSON array of objects
//
// Every object is looked up by apiVersion and kind in kubernetes-models
// (built-in kinds), @kubernetes-models/prometheus-operator and
// @kubernetes-models/cert-manager, and checked two ways:
//   1. the model's validate(): the OpenAPI schema (types, required fields,
//      enums, formats such as quantities);
//   2. unknown fields: the schemas do not forbid them (a typo such as
//      `imagePullPolcy` would pass), while the API server rejects them with
//      strict field validation. The models' type declarations (.d.ts) list
//      every field of every type; each object is walked against them.
// An apiVersion or kind found in no model is an error, not a pass.
//
// Prints one line per problem naming the object and the field, then
// "validated N objects: Kind xK, ..." and exits 0 when there is no problem,
// 1 otherwise (2 on a usage or input error).
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const MODEL_PACKAGES = [
  "kubernetes-models",
  "@kubernetes-models/prometheus-operator",
  "@kubernetes-models/cert-manager",
];

function die(message) {
  console.error("validate_k8s: " + message);
  process.exit(2);
}

const toolsDir = process.argv[2];
if (!toolsDir) die("usage: validate_k8s.mjs TOOLS_DIR < objects");
const nodeModules = path.resolve(toolsDir, "node_modules");
if (!fs.existsSync(path.join(nodeModules, "kubernetes-models"))) {
  die(`${nodeModules}/kubernetes-models is missing: run scripts/install-test-tools.sh`);
}

// ------------------------------------------------------------------ input

async function readObjects() {
  const text = fs.readFileSync(0, "utf8");
  if (text.trimStart().startsWith("[")) {
    const list = JSON.parse(text);
    if (!Array.isArray(list)) die("a JSON input must be an array of objects");
    return list;
  }
  const YAML = await import(pathToFileURL(path.join(nodeModules, "yaml/dist/index.js")).href);
  const objects = [];
  for (const doc of YAML.parseAllDocuments(text)) {
    if (doc.errors.length) die("not YAML: " + doc.errors.map((e) => e.message).join("; "));
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value);
  }
  return objects;
}

// ----------------------------------------------------------- model lookup

const moduleCache = new Map();

// The directory of an apiVersion's models ("v1", "apps/v1",
// "monitoring.coreos.com/v1") in the first package that has it.
function modelDir(apiVersion) {
  if (typeof apiVersion !== "string" || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return null;
  for (const pkg of MODEL_PACKAGES) {
    const dir = path.join(nodeModules, pkg, apiVersion);
    if (fs.existsSync(path.join(dir, "index.js"))) return dir;
  }
  return null;
}

async function modelClass(apiVersion, kind) {
  const dir = modelDir(apiVersion);
  if (!dir) return { error: `unknown apiVersion ${JSON.stringify(apiVersion)}` };
  if (!moduleCache.has(dir)) {
    moduleCache.set(dir, await import(pathToFileURL(path.join(dir, "index.js")).href));
  }
  const mod = moduleCache.get(dir);
  const cls = Object.values(mod).find(
    (v) => typeof v === "function" && v.apiVersion === apiVersion && v.kind === kind,
  );
  if (!cls) return { error: `unknown kind ${JSON.stringify(kind)} in ${apiVersion}` };
  return { cls, dts: path.join(dir, `${kind}.d.ts`), iface: `I${kind}` };
}

// ------------------------------------------- type declarations (.d.ts)
//
// A small reader for the regular declarations kubernetes-models generates:
//   import { IName } from "./File.js";
//   export interface IFoo extends TypeMeta { "a"?: Type; ... }
//   export type IBar = string | number;
//   export type { IFoo as ILongName, ... };
// Types: names, Array<T>, T[], { [key: string]: T; }, inline { "a": T; },
// unions, string/number literals and primitives.

const dtsCache = new Map();

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

// Index of the bracket closing the one at `open`.
function matchingBracket(text, open) {
  const pairs = { "{": "}", "<": ">", "(": ")", "[": "]" };
  const stack = [];
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      i = text.indexOf(c, i + 1);
      continue;
    }
    if (c === "=" && text[i + 1] === ">") { i++; continue; }
    if (pairs[c]) stack.push(pairs[c]);
    else if (c === stack[stack.length - 1]) {
      stack.pop();
      if (!stack.length) return i;
    }
  }
  throw new Error("unbalanced brackets");
}

// Splits at `sep` outside brackets and quotes.
function splitTop(text, sep) {
  const parts = [];
  let depth = 0, start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") { i = text.indexOf(c, i + 1); continue; }
    if (c === "=" && text[i + 1] === ">") { i++; continue; }
    if ("{<([".includes(c)) depth++;
    else if ("}>)]".includes(c)) depth--;
    else if (c === sep && depth === 0) { parts.push(text.slice(start, i)); start = i + 1; }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length);
}

// { "name": {optional, type} } of an object type's body.
function parseMembers(body) {
  const members = {};
  for (const member of splitTop(body, ";")) {
    const m = /^(?:readonly\s+)?(?:"([^"]+)"|([A-Za-z_$][\w$]*))(\??)\s*:\s*([\s\S]+)$/.exec(member);
    if (m) members[m[1] ?? m[2]] = m[4].trim();
    else if (/^\[\s*\w+\s*:\s*string\s*\]\s*:/.test(member)) members["[index]"] = member.replace(/^\[[^\]]*\]\s*:/, "").trim();
  }
  return members;
}

function loadDts(file) {
  if (dtsCache.has(file)) return dtsCache.get(file);
  const text = stripComments(fs.readFileSync(file, "utf8"));
  const info = { file, imports: new Map(), interfaces: new Map(), aliases: new Map(), exported: new Map() };
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      const [orig, local] = name.split(/\s+as\s+/);
      info.imports.set((local ?? orig).trim(), { name: orig.trim(), from: m[2] });
    }
  }
  for (const m of text.matchAll(/export\s+interface\s+(\w+)(?:<[^>]*>)?(?:\s+extends\s+([\w\s,]+?))?\s*\{/g)) {
    const open = m.index + m[0].length - 1;
    const body = text.slice(open + 1, matchingBracket(text, open));
    const members = parseMembers(body);
    const bases = (m[2] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    info.interfaces.set(m[1], { members, bases });
  }
  for (const m of text.matchAll(/export\s+type\s+(\w+)\s*=\s*([^;]+);/g)) info.aliases.set(m[1], m[2].trim());
  for (const m of text.matchAll(/export\s+type\s*\{([^}]*)\}/g)) {
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      const [orig, as] = name.split(/\s+as\s+/);
      if (as) info.exported.set(as.trim(), orig.trim());
    }
  }
  dtsCache.set(file, info);
  return info;
}

function resolveImport(fromFile, spec) {
  if (spec === "@kubernetes-models/base") return null;
  let base;
  if (spec.startsWith(".")) base = path.resolve(path.dirname(fromFile), spec);
  else base = path.join(nodeModules, spec);
  base = base.replace(/\.js$/, "");
  for (const candidate of [base + ".d.ts", path.join(base, "index.d.ts")]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`cannot find the declarations of ${spec} (from ${fromFile})`);
}

const ANY = { kind: "any" };
const LEAF = { kind: "leaf" };
const TYPE_META = { kind: "object", members: { apiVersion: LEAF, kind: LEAF } };
const shapeCache = new Map();

// The shape of a named type as seen from `file`.
function namedShape(file, name) {
  const key = file + "#" + name;
  if (shapeCache.has(key)) return shapeCache.get(key);
  const shape = { kind: "lazy" };
  shapeCache.set(key, shape); // recursive types see the placeholder
  Object.assign(shape, computeNamedShape(file, name));
  return shape;
}

function computeNamedShape(file, name) {
  if (name === "TypeMeta") return TYPE_META;
  const info = loadDts(file);
  const local = info.exported.get(name) ?? name;
  if (info.interfaces.has(local)) {
    const { members, bases } = info.interfaces.get(local);
    const shape = { kind: "object", members: {} };
    for (const base of bases) {
      const b = namedShape(file, base);
      if (b.kind === "object") Object.assign(shape.members, b.members);
    }
    for (const [k, t] of Object.entries(members)) {
      if (k === "[index]") return { kind: "map", value: typeShape(file, t) };
      shape.members[k] = { lazyType: t, file };
    }
    return shape;
  }
  if (info.aliases.has(local)) return typeShape(file, info.aliases.get(local));
  if (info.imports.has(name)) {
    const imp = info.imports.get(name);
    const target = resolveImport(file, imp.from);
    if (!target) return ANY;
    return namedShape(target, imp.name);
  }
  return ANY; // unknown names are not held against the object
}

function typeShape(file, type) {
  type = type.trim();
  const union = splitTop(type, "|");
  if (union.length > 1) return { kind: "union", members: union.map((t) => typeShape(file, t)) };
  if (/^\(.*\)$/s.test(type)) return typeShape(file, type.slice(1, -1));
  if (/\[\]$/.test(type)) return { kind: "array", items: typeShape(file, type.slice(0, -2)) };
  let m;
  if ((m = /^(?:Array|ReadonlyArray)<([\s\S]+)>$/.exec(type))) return { kind: "array", items: typeShape(file, m[1]) };
  if ((m = /^Record<\s*string\s*,([\s\S]+)>$/.exec(type))) return { kind: "map", value: typeShape(file, m[1]) };
  if (type.startsWith("{")) {
    const members = parseMembers(type.slice(1, -1));
    if (members["[index]"]) return { kind: "map", value: typeShape(file, members["[index]"]) };
    const shape = { kind: "object", members: {} };
    for (const [k, t] of Object.entries(members)) shape.members[k] = { lazyType: t, file };
    return shape;
  }
  if (/^(any|unknown|object)$/.test(type)) return ANY;
  if (/^(string|number|boolean|null|undefined|true|false)$/.test(type) || /^["'0-9-]/.test(type)) return LEAF;
  if ((m = /^([A-Za-z_$][\w$]*)(\[.*\])?$/.exec(type))) return m[2] ? LEAF : namedShape(file, m[1]);
  return ANY;
}

function memberShape(member) {
  if (!member.shape) member.shape = member === LEAF ? LEAF : member.lazyType === undefined ? member : typeShape(member.file, member.lazyType);
  return member.shape;
}

function isPlainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

// Collects "field: unknown field" problems of `value` against `shape`.
function unknownFields(value, shape, where, problems) {
  if (shape.kind === "union") {
    const fitting = shape.members.filter((s) =>
      Array.isArray(value) ? s.kind === "array" : isPlainObject(value) ? ["object", "map", "any"].includes(s.kind) : false);
    if (!fitting.length || fitting.some((s) => s.kind === "any")) return;
    if (fitting.length === 1) return unknownFields(value, fitting[0], where, problems);
    // Several object types: a field must be known to one of them.
    const merged = { kind: "object", members: {} };
    for (const s of fitting) {
      if (s.kind === "map") return unknownFields(value, s, where, problems);
      if (s.kind === "object") for (const [k, v] of Object.entries(s.members)) merged.members[k] ??= v;
    }
    return unknownFields(value, merged, where, problems);
  }
  if (shape.kind === "array" && Array.isArray(value)) {
    value.forEach((v, i) => unknownFields(v, shape.items, `${where}[${i}]`, problems));
  } else if (shape.kind === "map" && isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) unknownFields(v, shape.value, `${where}.${k}`, problems);
  } else if (shape.kind === "object" && isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      const field = where ? `${where}.${k}` : k;
      if (!Object.hasOwn(shape.members, k)) problems.push(`${field}: unknown field`);
      else unknownFields(v, memberShape(shape.members[k]), field, problems);
    }
  }
}

// ------------------------------------------------------------------ main

function describe(obj) {
  const md = isPlainObject(obj) && isPlainObject(obj.metadata) ? obj.metadata : {};
  const name = (md.namespace ? md.namespace + "/" : "") + (md.name ?? "(no name)");
  return `${obj?.apiVersion ?? "(no apiVersion)"} ${obj?.kind ?? "(no kind)"} ${name}`;
}

const objects = await readObjects();
const problems = [];
const kinds = new Map();
for (const obj of objects) {
  const what = describe(obj);
  if (!isPlainObject(obj)) {
    problems.push(`${what}: not an object`);
    continue;
  }
  const found = await modelClass(obj.apiVersion, obj.kind);
  if (found.error) {
    problems.push(`${what}: ${found.error} (no schema to validate it against)`);
    continue;
  }
  try {
    new found.cls(obj).validate();
  } catch (e) {
    // One line per schema error, each naming its field.
    for (const err of e.errors ?? [{ instancePath: "", message: e.message }]) {
      const field = (err.instancePath || "").split("/").slice(1)
        .map((seg) => (/^[0-9]+$/.test(seg) ? `[${seg}]` : "." + seg.replaceAll("~1", "/").replaceAll("~0", "~")))
        .join("").replace(/^\./, "") || "(object)";
      problems.push(`${what}: ${field}: ${err.message}${err.params?.allowedValues ? " " + JSON.stringify(err.params.allowedValues) : ""}`);
    }
  }
  const unknown = [];
  unknownFields(obj, namedShape(found.dts, found.iface), "", unknown);
  for (const p of unknown) problems.push(`${what}: ${p}`);
  kinds.set(obj.kind, (kinds.get(obj.kind) ?? 0) + 1);
}
for (const p of problems) console.log("INVALID " + p);
const validated = [...kinds.values()].reduce((a, b) => a + b, 0);
const summary = [...kinds.entries()].sort().map(([k, n]) => `${k} x${n}`).join(", ");
console.log(`validated ${validated} of ${objects.length} objects: ${summary || "none"}`);
process.exit(problems.length ? 1 : 0);
