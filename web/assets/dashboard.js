// lineage serve: live updates (server-sent events, no polling), the time slider, and zoom and
// pan on the family tree. Text from the log is only ever set with textContent, or arrives as
// HTML the server has escaped.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  slider();
  document.querySelectorAll("svg[data-zoom]").forEach(zoomable);
  const live = document.body.dataset.live;
  if (live) follow(live, document.body.dataset.sections);
});

function banner(text) {
  const el = document.getElementById("banner");
  if (!el) return;
  el.textContent = text || "";
  el.hidden = !text;
}

function slider() {
  const input = document.getElementById("at");
  if (!input) return;
  const out = document.getElementById("at-value");
  input.addEventListener("input", () => { out.textContent = input.value; });
  input.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("at", input.value);
    window.location.assign(url.toString());
  });
}

function cell(text, href) {
  const td = document.createElement("td");
  if (href) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    td.appendChild(a);
  } else {
    td.textContent = text;
  }
  return td;
}

function follow(url, sectionsUrl) {
  const status = document.getElementById("live-status");
  const feed = document.getElementById("feed");
  const input = document.getElementById("at");
  let refresh = null;
  const source = new EventSource(url);
  source.addEventListener("open", () => { banner(""); status.textContent = "live"; });
  source.addEventListener("logged", (message) => {
    const { item, campaign } = JSON.parse(message.data);
    const row = document.createElement("tr");
    row.className = "fresh";
    row.dataset.received = Date.now(); // when this page got it: the live latency, measurable
    row.appendChild(cell("#" + item.seq, campaign + "/events/" + item.seq));
    row.appendChild(cell(item.at));
    row.appendChild(cell(item.kind));
    row.appendChild(cell(item.actor));
    row.appendChild(item.arch ? cell(item.arch, campaign + "/archs/" + encodeURIComponent(item.arch)) : cell(""));
    feed.insertBefore(row, feed.firstChild);
    while (feed.children.length > 200) feed.removeChild(feed.lastChild);
    status.textContent = "live · event #" + item.seq;
    if (input) {
      input.max = item.seq;
      input.value = item.seq;
      document.getElementById("at-value").textContent = item.seq;
      document.getElementById("showing").textContent = "live: after event " + item.seq + " of " + item.seq;
    }
    // The tables and figures: re-rendered by the server, at most a few times a second.
    if (!refresh) {
      refresh = setTimeout(() => {
        refresh = null;
        fetch(sectionsUrl)
          .then((r) => r.text().then((html) => (r.ok ? html : Promise.reject(new Error(reason(html, r.status))))))
          .then((html) => {
            document.getElementById("sections").innerHTML = html;
            document.querySelectorAll("#sections svg[data-zoom]").forEach(zoomable);
            banner("");
          })
          .catch((e) => banner("Could not refresh the campaign: " + e.message));
      }, 300);
    }
  });
  source.addEventListener("failed", (message) => {
    banner("Live updates stopped: " + JSON.parse(message.data).error);
    status.textContent = "not live";
    source.close();
  });
  source.addEventListener("error", () => {
    if (source.readyState !== EventSource.CLOSED) {
      banner("Live updates interrupted: reconnecting to the server…");
      status.textContent = "reconnecting";
    }
  });
}

// The error line of an error page the server sent (its banner), or the status.
function reason(html, status) {
  const banner = new DOMParser().parseFromString(html, "text/html").querySelector(".banner");
  return banner ? banner.textContent : "the server answered " + status;
}

function zoomable(svg) {
  const box = svg.viewBox.baseVal;
  const home = [box.x, box.y, box.width, box.height];
  const point = (event) => {
    const r = svg.getBoundingClientRect();
    return [box.x + ((event.clientX - r.left) / r.width) * box.width, box.y + ((event.clientY - r.top) / r.height) * box.height];
  };
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const [px, py] = point(event);
    const k = event.deltaY < 0 ? 0.8 : 1.25;
    box.x = px - (px - box.x) * k;
    box.y = py - (py - box.y) * k;
    box.width *= k;
    box.height *= k;
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (event) => { drag = point(event); svg.setPointerCapture(event.pointerId); });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const [px, py] = point(event);
    box.x -= px - drag[0];
    box.y -= py - drag[1];
  });
  svg.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("dblclick", () => { [box.x, box.y, box.width, box.height] = home; });
}
