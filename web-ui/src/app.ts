/** The archive UI at ``/``: study list, study page, upload, worklist, MPPS, status. */

import { HttpError, setToken } from "./api";
import { byId, clear, h } from "./dom";
import { studyPage } from "./pages/study";
import { studyList } from "./pages/list";
import { uploadPage } from "./pages/upload";
import { mppsPage, printPage, statusPage, worklistPage } from "./pages/other";

const main = byId("main");

export function showError(where: HTMLElement, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  where.append(h("p", { class: "error", role: "alert" }, message));
  if (err instanceof HttpError && err.status === 401) {
    const input = h("input", { type: "password", placeholder: "bearer token", id: "token" });
    where.append(
      h("form", { class: "token", onsubmit: ((e: Event) => { e.preventDefault(); setToken(input.value); route(); }) as EventListener },
        "This archive asks for a token: ", input, h("button", { type: "submit" }, "Use")),
    );
  }
}

async function route(): Promise<void> {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [, page = "", arg = ""] = hash.split("/");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === `#/${page}`);
  const view = h("div", { class: "page" });
  clear(main, view);
  try {
    if (page === "" || page === "studies") await studyList(view);
    else if (page === "study") await studyPage(view, decodeURIComponent(arg));
    else if (page === "upload") uploadPage(view);
    else if (page === "worklist") await worklistPage(view);
    else if (page === "mpps") await mppsPage(view);
    else if (page === "print") await printPage(view);
    else if (page === "status") await statusPage(view);
    else view.append(h("p", {}, `no page ${hash}`));
  } catch (err) {
    showError(view, err);
  }
}

window.addEventListener("hashchange", () => void route());
void route();
