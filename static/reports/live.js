/* Live updates for "My reports" and the report page (SPEC §6, §9).
 *
 * The element with data-live-socket names the WebSocket path to follow and data-live-poll the REST URL to poll.
 * Every §5 event (and the report.snapshot of /ws/reports/{id}/) carries the report as the API shows it, so one
 * function, applyReport, updates the page from either source. The page keeps the id of the last event it saw
 * and reconnects with ?after= that id (SPEC §15): the server replays what happened meanwhile, so a dropped socket
 * that comes back within POLL_AFTER_DROP_MS leaves the page right without polling. A socket that never opened, or
 * stays down longer, falls back to polling with backoff while reconnecting, also with backoff; once the socket is
 * back, polling stops.
 */
(function () {
  "use strict";

  const root = document.querySelector("[data-live-socket]");
  if (!root) return;

  const MIN_DELAY_MS = 1000;
  const MAX_DELAY_MS = 30000;
  const CLOSE_UNAUTHENTICATED = 4401;
  const CLOSE_NOT_FOUND = 4404;
  // A dropped socket is given this long to come back (and replay what it missed) before the page polls.
  const POLL_AFTER_DROP_MS = 15000;
  // Reconnects come at least this often, so that a socket back within POLL_AFTER_DROP_MS is found in time.
  const MAX_SOCKET_DELAY_MS = 8000;
  const STATUS_LABELS = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed",
    cancelled: "Cancelled", expired: "Expired" };
  const CONNECTION_TEXT = { live: "Live", reconnecting: "Reconnecting…", polling: "Reconnecting… (polling)",
    "signed-out": "Signed out: reload the page", gone: "This report no longer exists" };
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const isReportPage = "reportId" in root.dataset;
  const typeTitles = JSON.parse((document.getElementById("report-type-titles") || {}).textContent || "{}");

  /* ---- Backoff ------------------------------------------------------------------------------------------- */

  /* Exponential backoff with jitter: each wait is a random time between half and all of the current step, and
     the step doubles from MIN_DELAY_MS up to MAX_DELAY_MS, so many pages that lost the server do not return
     in step. */
  function createBackoff(maxDelayMs = MAX_DELAY_MS) {
    let step = MIN_DELAY_MS;
    return {
      nextDelay() {
        const delay = step / 2 + Math.random() * (step / 2);
        step = Math.min(step * 2, maxDelayMs);
        return delay;
      },
      reset() { step = MIN_DELAY_MS; },
    };
  }

  /* ---- Formatting (same rules as the server's templates) ------------------------------------------------- */

  const pad = (number) => String(number).padStart(2, "0");

  function formatTime(iso) {
    if (!iso) return "—";
    const options = { timeZone: root.dataset.timeZone || "UTC", hourCycle: "h23", year: "numeric",
      month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" };
    const parts = {};
    new Intl.DateTimeFormat("en-GB", options).formatToParts(new Date(iso)).forEach((p) => { parts[p.type] = p.value; });
    const text = `${Number(parts.day)} ${MONTHS[Number(parts.month) - 1]} ${parts.year}, ${pad(parts.hour)}:${pad(parts.minute)}`;
    return isReportPage ? `${text}:${pad(parts.second)}` : text;
  }

  function formatDuration(report) {
    if (!report.started_at || !report.finished_at) return "—";
    const seconds = (new Date(report.finished_at) - new Date(report.started_at)) / 1000;
    if (seconds < 10) return `${seconds.toFixed(1)} s`;
    if (seconds < 60) return `${Math.round(seconds)} s`;
    const whole = Math.round(seconds);
    if (whole < 3600) return `${Math.floor(whole / 60)} min ${pad(whole % 60)} s`;
    const minutes = Math.floor(whole / 60);
    return `${Math.floor(minutes / 60)} h ${pad(minutes % 60)} min`;
  }

  function formatFileInfo(file) {
    if (!file) return "—";
    const kb = file.size_bytes / 1024;
    const size = kb < 1024 ? `${kb.toFixed(1)} KB` : `${(kb / 1024).toFixed(1)} MB`;
    return `${file.pages} page${file.pages === 1 ? "" : "s"}, ${size}`;
  }

  /* ---- Updating the page --------------------------------------------------------------------------------- */

  const urlFor = (pattern, reportId) => pattern.replace("__id__", encodeURIComponent(reportId));
  const eachField = (container, name, update) => container.querySelectorAll(`[data-field="${name}"]`).forEach(update);

  /* The row (or report page) showing this report; on the first page of My reports, a new row for a report the
     page has not seen, such as one requested in another tab. */
  function containerFor(report) {
    if (isReportPage) return root.dataset.reportId === report.id ? root : null;
    const existing = root.querySelector(`tr[data-report-id="${CSS.escape(report.id)}"]`);
    if (existing || !("insertNew" in root.dataset)) return existing;
    const row = document.getElementById("report-row-template").content.firstElementChild.cloneNode(true);
    row.dataset.reportId = report.id;
    eachField(row, "title", (el) => {
      el.textContent = typeTitles[report.report_type] || report.report_type;
      el.href = urlFor(root.dataset.detailUrl, report.id);
    });
    eachField(row, "id", (el) => { el.textContent = report.id; });
    eachField(row, "created", (el) => { el.textContent = formatTime(report.created_at); el.dateTime = report.created_at; });
    root.querySelectorAll("[data-empty-state]").forEach((el) => el.remove());
    root.querySelector("tbody").prepend(row);
    return row;
  }

  /* Show the report's state; returns whether anything changed. */
  function applyReport(report) {
    const container = containerFor(report);
    const signature = `${report.status}:${report.progress}`;
    if (!container || container.dataset.signature === signature) return false;
    container.dataset.signature = signature;
    const active = report.status === "queued" || report.status === "running";
    eachField(container, "status", (el) => {
      el.textContent = STATUS_LABELS[report.status] || report.status;
      el.className = `badge badge-${report.status}`;
    });
    eachField(container, "progress", (el) => { el.hidden = report.status !== "running"; });
    eachField(container, "progress-bar", (el) => { el.value = report.progress; });
    eachField(container, "progress-text", (el) => { el.textContent = `${report.progress}%`; });
    eachField(container, "error", (el) => {
      el.hidden = !report.error;
      el.textContent = report.error ? report.error.message : "";
    });
    eachField(container, "download", (el) => {
      el.href = urlFor(root.dataset.fileUrl, report.id);
      el.hidden = !report.file;
    });
    eachField(container, "when-active", (el) => { el.hidden = !active; });
    eachField(container, "started", (el) => { el.textContent = formatTime(report.started_at); });
    eachField(container, "finished", (el) => { el.textContent = formatTime(report.finished_at); });
    eachField(container, "duration", (el) => { el.textContent = formatDuration(report); });
    eachField(container, "file-info", (el) => { el.textContent = formatFileInfo(report.file); });
    return true;
  }

  function showConnection(state) {
    const indicator = document.querySelector("[data-connection]");
    if (!indicator) return;
    indicator.hidden = false;
    indicator.dataset.state = state;
    indicator.querySelector("[data-connection-text]").textContent = CONNECTION_TEXT[state];
  }

  /* ---- Polling fallback ---------------------------------------------------------------------------------- */

  const pollBackoff = createBackoff();
  let polling = false;
  let pollGeneration = 0; // a poll loop started before the latest start or stop ends itself

  /* Fetch the current state once and show it; returns whether anything changed. */
  async function refreshFromApi() {
    try {
      const response = await fetch(root.dataset.livePoll, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.status === 401 || response.status === 403) {
        stopPolling();
        showConnection("signed-out");
        return false;
      }
      if (!response.ok) return false;
      const body = await response.json();
      // Oldest first, so that rows inserted at the top end up newest first.
      const reports = Array.isArray(body.results) ? body.results.slice().reverse() : [body];
      return reports.map(applyReport).some(Boolean);
    } catch (error) {
      return false; // the server is unreachable too: try again after the next delay
    }
  }

  /* Poll until stopped. The interval doubles while nothing changes; a change brings it back to the minimum. */
  function startPolling() {
    if (polling) return;
    polling = true;
    const generation = ++pollGeneration;
    pollBackoff.reset();
    (async function pollLoop() {
      const changed = await refreshFromApi();
      if (generation !== pollGeneration) return;
      if (changed) pollBackoff.reset();
      setTimeout(pollLoop, pollBackoff.nextDelay());
    })();
  }

  function stopPolling() {
    polling = false;
    pollGeneration += 1; // the running loop, if any, ends at its next turn
  }

  /* ---- WebSocket ----------------------------------------------------------------------------------------- */

  const socketBackoff = createBackoff(MAX_SOCKET_DELAY_MS);
  let lastEventId = null; // the last event of the stream the page has seen: a reconnect resumes after it
  let everOpen = false;
  let pollTimer = null;

  function socketUrl() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const after = lastEventId ? `?after=${encodeURIComponent(lastEventId)}` : "";
    return `${scheme}//${window.location.host}${root.dataset.liveSocket}${after}`;
  }

  function connectSocket() {
    const resuming = lastEventId !== null;
    const socket = new WebSocket(socketUrl());
    socket.addEventListener("open", () => onSocketOpen(resuming));
    socket.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "stream.reset") {
        // What was missed cannot be replayed (too old, or too much): read the state instead. The report page's
        // socket sends a snapshot next.
        lastEventId = null;
        if (!isReportPage) refreshFromApi();
        return;
      }
      if (event.id) lastEventId = event.id;
      if (event.data && event.data.report) applyReport(event.data.report);
    });
    socket.addEventListener("close", (event) => onSocketClosed(event.code));
  }

  function onSocketOpen(resuming) {
    everOpen = true;
    socketBackoff.reset();
    clearTimeout(pollTimer);
    pollTimer = null;
    stopPolling();
    showConnection("live");
    // A change made after the page (or the last poll) was read and before the subscription is in no event:
    // fetch once to catch up. A resumed socket replays instead, and the report page's starts with a snapshot.
    if (!isReportPage && !resuming) refreshFromApi();
  }

  function onSocketClosed(code) {
    if (code === CLOSE_UNAUTHENTICATED || code === CLOSE_NOT_FOUND) {
      stopPolling();
      showConnection(code === CLOSE_UNAUTHENTICATED ? "signed-out" : "gone");
      return;
    }
    if (!everOpen || polling) {
      showConnection("polling");
      startPolling();
    } else if (pollTimer === null) {
      showConnection("reconnecting");
      pollTimer = setTimeout(() => {
        pollTimer = null;
        showConnection("polling");
        startPolling();
      }, POLL_AFTER_DROP_MS);
    }
    setTimeout(connectSocket, socketBackoff.nextDelay());
  }

  connectSocket();
})();
