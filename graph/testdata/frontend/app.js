// A frontend's use of grantql: the page got a JWT from its identity
// provider (here handed to it in the URL's fragment, with the API's
// address and the project to show) and asks grantql, on another origin,
// what the signed-in user may do in the project.
"use strict";

const params = new URLSearchParams(location.hash.slice(1));
// The token is kept in memory only; the fragment is cleared.
history.replaceState(null, "", location.pathname);

const query = `query Frontend($id: ID!) {
  viewer { username }
  project(id: $id) { name viewerPermissions }
}`;

async function load() {
  const res = await fetch(params.get("api"), {
    method: "POST",
    headers: {
      "Authorization": "Bearer " + params.get("token"),
      "Content-Type": "application/json",
    },
    body: JSON.stringify({ query, variables: { id: params.get("project") } }),
  });
  const body = await res.json();
  if (body.errors) {
    throw new Error(body.errors.map((e) => e.message).join("; "));
  }
  return body.data;
}

function show(data) {
  document.getElementById("viewer").textContent = data.viewer.username;
  document.getElementById("project-name").textContent = data.project.name;
  const list = document.getElementById("permissions");
  for (const perm of data.project.viewerPermissions) {
    const li = document.createElement("li");
    li.textContent = perm;
    list.append(li);
  }
  document.getElementById("status").hidden = true;
  document.getElementById("project").hidden = false;
  document.body.dataset.state = "shown";
}

function fail(err) {
  const p = document.getElementById("error");
  p.textContent = "grantql could not be read: " + err;
  p.hidden = false;
  document.getElementById("status").hidden = true;
  document.body.dataset.state = "error";
}

load().then(show, fail);
