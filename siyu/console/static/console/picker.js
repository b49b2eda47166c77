/* Searchable pickers: a click on a match adds a chip (with the hidden input the form posts); × removes it.
   Single pickers keep one chip. htmx loads the matches; this file only moves chips. */
(function () {
  "use strict";
  function chip(picker, pk, label) {
    var box = picker.querySelector("[data-chips]");
    if (box.querySelector('[data-chip="' + pk + '"]')) return;
    if (picker.dataset.multiple !== "1") box.innerHTML = "";
    var span = document.createElement("span");
    span.className = "chip";
    span.dataset.chip = pk;
    span.appendChild(document.createTextNode(label));
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = picker.dataset.name;
    input.value = pk;
    span.appendChild(input);
    var x = document.createElement("button");
    x.type = "button";
    x.className = "chip-x";
    x.setAttribute("data-unpick", "");
    x.setAttribute("aria-label", "× " + label);
    x.textContent = "×";
    span.appendChild(x);
    box.appendChild(span);
    picker.dispatchEvent(new Event("change", { bubbles: true }));
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var picker = target.closest("[data-picker]");
    if (!picker) return;
    var option = target.closest("[data-pick]");
    if (option) {
      event.preventDefault();
      chip(picker, option.dataset.pick, option.dataset.label);
      option.classList.add("picked");
      if (picker.dataset.multiple !== "1") picker.querySelector("[data-results]").innerHTML = "";
      return;
    }
    var remove = target.closest("[data-unpick]");
    if (remove) {
      event.preventDefault();
      remove.closest("[data-chip]").remove();
      picker.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });
})();
