// The JSON API client of the console: every page goes through it.

let csrf = "";
let onExpired = () => {};

// setCSRF remembers the token from the login or /me answer.
export function setCSRF(token) { csrf = token || ""; }

// onSignInExpired registers what to do when the server says 401.
export function onSignInExpired(fn) { onExpired = fn; }

// ApiError carries the HTTP status and the server's error code.
export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// send makes a request with the console's headers; a failed answer throws
// an ApiError. A 401 on anything but sign-in means the sign-in expired: the
// console goes back to the sign-in page.
async function send(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
  }
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    const err = new ApiError(res.status, data.code || "", data.error || `${res.status} ${res.statusText}`, Number(res.headers.get("Retry-After")) || 0);
    if (res.status === 401 && path !== "/api/v1/login" && path !== "/api/v1/me") onExpired();
    throw err;
  }
  return res;
}

// api calls the server and returns its JSON answer.
export async function api(method, path, body) {
  const res = await send(method, path, body);
  return res.json().catch(() => ({}));
}

// download calls the server for a file and saves it under the name the
// server gives (Content-Disposition), as a browser download.
export async function download(method, path, body) {
  const res = await send(method, path, body);
  const blob = await res.blob();
  const m = /filename="?([^";]+)"?/.exec(res.headers.get("Content-Disposition") || "");
  const name = m ? m[1] : "download";
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return { name, size: blob.size };
}

// beacon sends a request that outlives the page (fetch keepalive), for
// what must reach the server as the page goes away; nobody reads the
// answer.
export function beacon(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  fetch(path, { method, headers, body: JSON.stringify(body ?? {}), credentials: "same-origin", keepalive: true }).catch(() => {});
}

// describe turns an API error into words for the technician.
export function describe(e, what) {
  if (!(e instanceof ApiError)) return `${what}: ${e.message}`;
  switch (e.status) {
    case 0: return e.message;
    case 401: return "Your sign-in has expired. Please sign in again.";
    case 403: return `Permission denied: you may not ${what}.`;
    case 404: return `Not found: ${e.message}.`;
    case 409: return e.code === "endpoint_offline" ? "The endpoint is offline: its agent has not checked in recently." : `Could not ${what}: ${e.message}.`;
    case 429: return "Too many attempts. Wait a moment and try again.";
    default: return `Could not ${what}: ${e.message}`;
  }
}
