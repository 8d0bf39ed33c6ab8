// The schedule form's "Next runs": asked of the API as the cron or the timezone changes, so a mistake shows at once.
(function () {
  "use strict";
  const form = document.getElementById("schedule-form");
  const list = document.querySelector('[data-field="upcoming"]');
  if (!form || !list) return;
  const cron = form.querySelector('[name="cron"]');
  const zone = form.querySelector('[name="timezone"]');
  let timer = null;

  function show(times, message) {
    list.replaceChildren();
    for (const text of times.length ? times : [message]) {
      const item = document.createElement("li");
      item.textContent = text;
      if (!times.length) item.className = "muted";
      list.append(item);
    }
  }

  function format(iso, timeZone) {
    const when = new Date(iso);
    try {
      return when.toLocaleString(undefined, { timeZone, weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
    } catch (error) {
      return iso;
    }
  }

  async function refresh() {
    const query = new URLSearchParams({ cron: cron.value, timezone: zone.value || "UTC" });
    try {
      const response = await fetch(`${form.dataset.nextRuns}?${query}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const body = await response.json();
      if (response.ok) {
        show(body.next_runs.map((iso) => format(iso, zone.value || "UTC")), "");
      } else {
        const messages = Object.values(body.errors || {}).flat();
        show([], messages[0] || body.detail || "Not a valid cron or timezone.");
      }
    } catch (error) {
      show([], "The next runs could not be read.");
    }
  }

  for (const field of [cron, zone]) {
    field.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 250);
    });
  }
})();
