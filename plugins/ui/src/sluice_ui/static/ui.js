// Sluice UI: the few live parts of the server-rendered pages. No library, no build step.
// - [data-live-url]: refreshed from that fragment URL every few seconds (until it says data-terminal="true").
// - select[data-autosubmit]: submits its filter form on change.
// - #schedule-fields: the schedule kind shows its inputs, and a "next 5 runs" preview follows the typing.
"use strict";

const LIVE_INTERVAL_MS = 2000;

function liveRefresh(element) {
  const toggle = element.dataset.liveToggle ? document.getElementById(element.dataset.liveToggle) : null;
  let busy = false;
  const timer = window.setInterval(async () => {
    if (busy || (toggle && !toggle.checked)) return;
    busy = true;
    try {
      const response = await fetch(element.dataset.liveUrl, { headers: { "X-Sluice-Fragment": "1" } });
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) return;
      const html = await response.text();
      element.innerHTML = html;
      const marker = element.querySelector("[data-terminal]");
      if (marker && marker.dataset.terminal === "true") window.clearInterval(timer);
    } catch (error) {
      // The server may be restarting: try again at the next tick.
    } finally {
      busy = false;
    }
  }, LIVE_INTERVAL_MS);
}

function schedulePreview(fieldset) {
  const kind = fieldset.querySelector("#schedule_kind");
  const output = document.getElementById("schedule-preview");
  const showInputs = () => {
    fieldset.querySelectorAll("[data-kind]").forEach((field) => {
      field.hidden = !field.dataset.kind.split(" ").includes(kind.value);
    });
  };
  let pending = null;
  let latest = 0;
  const refresh = async () => {
    const ticket = ++latest;
    const url = new URL(fieldset.dataset.previewUrl, window.location.origin);
    fieldset.querySelectorAll("input, select, textarea").forEach((input) => {
      if (input.name) url.searchParams.set(input.name, input.value);
    });
    const response = await fetch(url, { headers: { "X-Sluice-Fragment": "1" } });
    if (!response.ok) return;
    const answer = await response.json();
    if (ticket !== latest) return; // an answer to older input arrived late: a newer one is coming
    output.replaceChildren();
    const line = document.createElement("p");
    line.className = answer.ok ? "" : "error";
    line.textContent = answer.ok ? answer.description : answer.error;
    output.append(line);
    if (answer.dates.length) {
      const list = document.createElement("ol");
      list.id = "preview-dates";
      answer.dates.forEach((date, index) => {
        const item = document.createElement("li");
        item.textContent = answer.labels[index] || date;
        item.title = date;
        list.append(item);
      });
      output.append(list);
    }
  };
  const schedule = () => {
    window.clearTimeout(pending);
    pending = window.setTimeout(refresh, 250);
  };
  kind.addEventListener("change", showInputs);
  fieldset.addEventListener("input", schedule);
  fieldset.addEventListener("change", schedule);
  showInputs();
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live-url]").forEach(liveRefresh);
  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.requestSubmit());
  });
  const fieldset = document.getElementById("schedule-fields");
  if (fieldset) schedulePreview(fieldset);
});
