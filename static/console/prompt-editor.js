// The prompt editor (templates/prompts/prompt_edit.html, prompt_new.html): add, remove and move
// message rows, show the right input for a role, grow textareas, switch chat/text on a new prompt,
// and put the live check's errors under the messages they belong to. Without this script the
// buttons post the form and the server does the same.
(function () {
  "use strict";
  var form = document.getElementById("prompt-editor");
  if (!form) return;
  form.classList.add("js");
  var rows = document.getElementById("message-rows");
  var template = document.getElementById("message-row-template");

  function allRows() { return rows ? Array.prototype.slice.call(rows.querySelectorAll(".message-row")) : []; }

  // Row numbers and the no-JS remove values follow the order on screen.
  function renumber() {
    allRows().forEach(function (row, index) {
      var number = row.querySelector(".row-number");
      if (number) number.textContent = "Message " + (index + 1);
      var remove = row.querySelector("[data-remove]");
      if (remove) remove.value = "remove-" + index;
    });
  }

  // Ask the server to check again (the form's hx-trigger listens for input events).
  function changed(element) {
    element.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function grow(textarea) {
    textarea.style.height = "";
    if (!textarea.offsetParent) return; // hidden (a placeholder row): its rows attribute will do
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight + 4, window.innerHeight * 0.7) + "px";
  }

  function setRole(row, role) {
    row.dataset.role = role;
    row.className = row.className.replace(/\brole-\S+/g, "").trim() + " role-" + role;
  }

  function addRow() {
    if (!rows || !template) return;
    var fragment = template.content.cloneNode(true);
    rows.appendChild(fragment);
    var row = allRows().pop();
    renumber();
    var textarea = row.querySelector("textarea");
    if (textarea) textarea.focus();
    changed(row.querySelector("select"));
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button || !form.contains(button)) return;
    if (button.id === "add-message") {
      event.preventDefault();
      addRow();
      return;
    }
    var row = button.closest(".message-row");
    if (!row) return;
    if (button.hasAttribute("data-remove")) {
      event.preventDefault();
      if (allRows().length > 1) {
        var neighbour = row.previousElementSibling || row.nextElementSibling;
        row.remove();
        renumber();
        changed(neighbour.querySelector("select"));
      }
    } else if (button.dataset.move) {
      event.preventDefault();
      var up = button.dataset.move === "-1";
      var other = up ? row.previousElementSibling : row.nextElementSibling;
      if (!other) return;
      rows.insertBefore(row, up ? other : other.nextElementSibling);
      renumber();
      button.focus();
      changed(row.querySelector("select"));
    }
  });

  form.addEventListener("change", function (event) {
    var target = event.target;
    if (target.name === "role") {
      var row = target.closest(".message-row");
      if (row) {
        setRole(row, target.value);
        var content = row.querySelector("textarea");
        if (content) grow(content);
      }
    } else if (target.id === "prompt-kind") {
      form.classList.remove("editor-kind-chat", "editor-kind-text");
      form.classList.add("editor-kind-" + target.value);
    }
  });

  form.addEventListener("input", function (event) {
    if (event.target.tagName === "TEXTAREA") grow(event.target);
  });

  // After the live check: each message row shows its own errors (as text, never as HTML).
  document.body.addEventListener("htmx:afterSwap", function () {
    var panel = document.getElementById("variables");
    if (!panel) return;
    var errors = {};
    try { errors = JSON.parse(panel.dataset.rowErrors || "{}"); } catch (e) { errors = {}; }
    allRows().forEach(function (row, index) {
      var messages = errors[String(index)] || [];
      var slot = row.querySelector(".row-errors");
      if (slot) slot.textContent = messages.join(" · ");
      if (messages.length) row.setAttribute("aria-invalid", "true"); else row.removeAttribute("aria-invalid");
    });
  });

  Array.prototype.forEach.call(form.querySelectorAll("textarea"), grow);
})();
