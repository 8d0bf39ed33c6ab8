// The webhooks pages: copy buttons, confirmations, the delivery log refreshing itself, a recovery's live progress.
(function () {
  "use strict";

  const LOG_REFRESH_MS = 2000;
  const RECOVERY_REFRESH_MS = 1000;

  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const text = document.querySelector(button.dataset.copy).textContent.trim();
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch (error) {
        const range = document.createRange(); // no clipboard (plain http): select it for the user to copy
        range.selectNodeContents(document.querySelector(button.dataset.copy));
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
    });
  });

  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // The delivery log: its rows again whenever a delivery is added or has another attempt (the server answers 304
  // while nothing changed). Only while the page is visible.
  const log = document.getElementById("deliveries");
  if (log) {
    let version = log.dataset.version;
    const refresh = async () => {
      if (document.visibilityState === "visible") {
        try {
          const answer = await fetch(log.dataset.url, {
            headers: { "If-None-Match": `"${version}"` },
            cache: "no-store",
            credentials: "same-origin",
          });
          if (answer.status === 200) {
            log.tBodies[0].innerHTML = await answer.text();
            version = (answer.headers.get("ETag") || "").replaceAll('"', "");
            log.dataset.version = version;
          }
        } catch (error) {
          // offline for a moment: the next refresh tries again
        }
      }
      window.setTimeout(refresh, LOG_REFRESH_MS);
    };
    window.setTimeout(refresh, LOG_REFRESH_MS);
  }

  // A recovery queued or running: its status and counts from the API until it is over.
  const recovery = document.getElementById("recovery");
  if (recovery && ["queued", "running"].includes(recovery.dataset.status)) {
    const field = (name) => recovery.querySelector(`[data-field="${name}"]`);
    const follow = async () => {
      try {
        const answer = await fetch(recovery.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (answer.ok) {
          const state = await answer.json();
          field("status").textContent = state.status.charAt(0).toUpperCase() + state.status.slice(1);
          field("sent").textContent = state.sent;
          field("failed").textContent = state.failed;
          field("total").textContent = state.total;
          const done = state.total ? Math.floor((100 * (state.sent + state.failed)) / state.total) : 100;
          field("progress").value = state.status === "queued" ? 0 : done;
          recovery.dataset.status = state.status;
          if (!["queued", "running"].includes(state.status)) return;
        }
      } catch (error) {
        // try again below
      }
      window.setTimeout(follow, RECOVERY_REFRESH_MS);
    };
    window.setTimeout(follow, RECOVERY_REFRESH_MS);
  }
})();
