// Writes vendor/NOTICE.md: the licence of every package installed with
// GraphiQL, React and ReactDOM, and the full texts of theirs. graphiql.min.js
// bundles GraphiQL's own dependencies, so they are listed too.
"use strict";
const fs = require("fs");
const path = require("path");

const nm = process.argv[2];
const lock = JSON.parse(fs.readFileSync(path.join(nm, "..", "package-lock.json"), "utf8"));
const direct = Object.keys(lock.packages[""].dependencies);

const rows = Object.entries(lock.packages)
  .filter(([key]) => key !== "")
  .map(([key, p]) => [key.replace(/^.*node_modules\//, ""), p.version, p.license || "see package"])
  .sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));

const out = [];
out.push("# Third-party notices for the GraphiQL page");
out.push("");
out.push("The files of this folder are the minified production builds of these npm packages,");
out.push("copied unchanged by `make graphiql-assets`:");
out.push("");
for (const name of direct) {
  const p = lock.packages["node_modules/" + name];
  out.push(`- ${name} ${p.version} (${p.license})`);
}
out.push("");
out.push("graphiql.min.js bundles GraphiQL's own dependencies, at the versions of its build. These");
out.push("are the packages npm installs with the three above, and their licences:");
out.push("");
out.push("| package | version | licence |");
out.push("| --- | --- | --- |");
for (const [name, version, license] of rows) out.push(`| ${name} | ${version} | ${license} |`);
for (const name of direct) {
  const dir = path.join(nm, name);
  const file = fs.readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  if (!file) throw new Error(`${name} has no licence file`);
  out.push("");
  out.push(`## ${name}`);
  out.push("");
  out.push("```");
  out.push(fs.readFileSync(path.join(dir, file), "utf8").trim());
  out.push("```");
}
process.stdout.write(out.join("\n") + "\n");
