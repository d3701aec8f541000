// casemesh web UI, Review updates: the "select all" checkbox (plain JavaScript, no build step).
// Ticking it ticks every update the sharing policy permits that is not a conflict (a conflict,
// an update of a field edited here, is applied only when ticked on its own); unticking it
// unticks them all. Without JavaScript the form still works: "select all" alone applies every
// permitted, non-conflicting update of the tab (the service's tab choice).
"use strict";

const selectAll = document.getElementById("select-all");
if (selectAll) {
  const picks = () => Array.from(document.querySelectorAll("#updates input.pick:not(:disabled)"));
  selectAll.addEventListener("change", () => {
    for (const box of picks()) {
      box.checked = selectAll.checked && box.dataset.conflict !== "1";
    }
  });
  const sync = () => {
    const boxes = picks();
    const ticked = boxes.filter((b) => b.checked).length;
    selectAll.checked = ticked > 0 && ticked === boxes.filter((b) => b.dataset.conflict !== "1").length;
    selectAll.indeterminate = ticked > 0 && !selectAll.checked;
  };
  for (const box of picks()) box.addEventListener("change", sync);
}
