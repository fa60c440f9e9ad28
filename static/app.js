// Conexión Empresas: CSRF for htmx, the idle-session warning, and small UI helpers.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]');

  // Every htmx request carries the CSRF token in a header (flask-wtf reads X-CSRFToken).
  document.addEventListener("htmx:configRequest", function (event) {
    if (token) { event.detail.headers["X-CSRFToken"] = token.content; }
  });

  // Password fields: a "Mostrar"/"Ocultar" button beside each one (aria-pressed tells its state).
  var revealCount = 0;
  function addRevealButtons(root) {
    (root.querySelectorAll ? root : document).querySelectorAll('input[type="password"]:not([data-reveal-ready])').forEach(function (input) {
      input.setAttribute("data-reveal-ready", "");
      if (!input.id) { input.id = "password-field-" + (++revealCount); }
      var focused = document.activeElement === input;
      var wrap = document.createElement("span");
      wrap.className = "password-wrap";
      input.parentNode.insertBefore(wrap, input);
      wrap.appendChild(input);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "reveal";
      button.textContent = "Mostrar";
      button.setAttribute("aria-pressed", "false");
      button.setAttribute("aria-controls", input.id);
      button.setAttribute("title", "Mostrar u ocultar la contraseña");
      wrap.appendChild(button);
      if (focused) { input.focus(); }
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.reveal");
    if (!button) { return; }
    var input = document.getElementById(button.getAttribute("aria-controls"));
    if (!input) { return; }
    var show = input.type === "password";
    input.type = show ? "text" : "password";
    button.textContent = show ? "Ocultar" : "Mostrar";
    button.setAttribute("aria-pressed", show ? "true" : "false");
  });

  // Modals: a <dialog data-modal> swapped into the page opens itself; [data-close] closes it.
  // Focus stays inside an open dialog (Tab and Shift+Tab cycle through it) and, when it closes,
  // goes back to the button or link that opened it (or to what replaced it, or to <main>).
  var opener = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id === "modal-root" && !event.detail.elt.closest("dialog")) {
      var elt = document.activeElement && document.activeElement !== document.body ? document.activeElement : event.detail.elt;
      opener = { elt: elt, id: elt.id, label: elt.getAttribute("aria-label"), row: elt.closest("tr[id]") && elt.closest("tr[id]").id };
    }
  });
  function restoreFocus() {
    var o = opener;
    opener = null;
    if (!o) { return; }
    var back = document.contains(o.elt) ? o.elt : null;
    if (!back && o.id) { back = document.getElementById(o.id); }
    if (!back && o.row && o.label) {
      var row = document.getElementById(o.row);
      back = row && row.querySelector('[aria-label="' + o.label.replace(/"/g, "") + '"]');
    }
    if (!back) { back = document.getElementById("main"); }
    if (back) { back.focus(); }
  }
  function enhance(root) {
    addRevealButtons(root);
    (root.querySelectorAll ? root : document).querySelectorAll("dialog[data-modal]").forEach(function (d) {
      if (!d.open) { d.showModal(); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { addRevealButtons(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.detail.elt.parentNode || document); });
  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close]");
    if (!closer) { return; }
    var dialog = closer.closest("dialog");
    if (dialog) { dialog.close(); }
  });
  document.addEventListener("close", function (event) {
    if (!event.target.matches || !event.target.matches("dialog")) { return; }
    if (event.target.matches("dialog[data-modal]")) { event.target.remove(); }
    if (!document.querySelector("dialog[open]")) { restoreFocus(); }
  }, true);
  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") { return; }
    var open = document.querySelectorAll("dialog[open]:not(.inline-dialog)");
    var dialog = open[open.length - 1];
    if (!dialog) { return; }
    var items = Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), function (el) {
      return el.getClientRects().length > 0;
    });
    if (!items.length) { event.preventDefault(); return; }
    var first = items[0], last = items[items.length - 1];
    var inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault(); last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault(); first.focus();
    }
  });

  // File fields: show the chosen file's name inside the drop zone (the native text is not localized).
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("[data-file-input]")) { return; }
    var zone = input.closest(".filedrop");
    var name = zone && zone.querySelector("[data-file-name]");
    if (name) { name.textContent = input.files.length ? input.files[0].name : ""; }
  });

  // Forms that must not be sent twice (a double click on Autorizar): buttons off once sent.
  // Later than the submit event itself, so the pressed button's name/value still goes along.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-once]")) { return; }
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) { b.disabled = true; });
    }, 0);
  });

  // Tables with check boxes: the header box selects or clears every row of its table.
  document.addEventListener("change", function (event) {
    var all = event.target;
    if (!all.matches || !all.matches("[data-select-all]")) { return; }
    var table = document.getElementById(all.getAttribute("data-select-all"));
    if (!table) { return; }
    table.querySelectorAll('tbody input[type="checkbox"]').forEach(function (box) { box.checked = all.checked; });
  });

  // Gestión de usuarios: a role's box ticks or clears its permissions on that product; a role
  // shows ticked while all of its permissions are (the server adds a ticked role's).
  function syncRoles(group) {
    group.querySelectorAll("[data-role]").forEach(function (role) {
      role.checked = role.getAttribute("data-role").split(" ").every(function (code) {
        var p = group.querySelector('input[data-permission="' + code + '"]');
        return p && p.checked;
      });
    });
  }
  function syncAllRoles(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-permissions]").forEach(syncRoles);
  }
  document.addEventListener("DOMContentLoaded", function () { syncAllRoles(document); });
  document.addEventListener("htmx:load", function (event) { syncAllRoles(event.detail.elt.parentNode || document); });
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches) { return; }
    var group = box.closest("[data-permissions]");
    if (!group) { return; }
    if (box.matches("[data-role]")) {
      box.getAttribute("data-role").split(" ").forEach(function (code) {
        group.querySelectorAll('input[data-permission="' + code + '"]:not(:disabled)').forEach(function (p) { p.checked = box.checked; });
      });
    }
    syncRoles(group);
  });

  // Expandable rows (an order's batches): hidden once JavaScript runs, shown by their button.
  function collapseRows(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-collapsible]").forEach(function (row) {
      if (!row.dataset.ready) { row.hidden = true; row.dataset.ready = "1"; }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { collapseRows(document); });
  document.addEventListener("htmx:load", function (event) { collapseRows(event.detail.elt.parentNode || document); });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-toggle]");
    if (!button) { return; }
    var row = document.getElementById(button.getAttribute("data-toggle"));
    if (!row) { return; }
    row.hidden = !row.hidden;
    button.setAttribute("aria-expanded", row.hidden ? "false" : "true");
  });

  // htmx errors: say what happened, in Spanish, instead of doing nothing.
  var ERRORS = {
    400: "La solicitud no es válida o el formulario venció. Recarga la página e inténtalo de nuevo.",
    403: "No tienes permiso para realizar esta operación.",
    404: "El registro que buscas no existe.",
    413: "El archivo supera el tamaño máximo permitido.",
    429: "Demasiados intentos. Espera unos minutos e inténtalo de nuevo."
  };
  function showError(text) {
    var root = document.getElementById("modal-root");
    if (!root) { window.alert(text); return; }
    var dialog = document.createElement("dialog");
    dialog.setAttribute("data-modal", "");
    dialog.setAttribute("role", "alertdialog");
    var title = document.createElement("h2");
    title.textContent = "No fue posible completar la operación";
    var body = document.createElement("p");
    body.textContent = text;
    var actions = document.createElement("div");
    actions.className = "actions";
    var ok = document.createElement("button");
    ok.type = "button"; ok.className = "primary"; ok.setAttribute("data-close", ""); ok.textContent = "Aceptar";
    actions.appendChild(ok);
    dialog.append(title, body, actions);
    if (!opener && document.activeElement && document.activeElement !== document.body) {
      opener = { elt: document.activeElement, id: document.activeElement.id };
    }
    root.replaceChildren(dialog);
    dialog.showModal();
  }
  function passive(event) {
    var elt = event.detail.elt;
    return elt && elt.closest && elt.closest("[data-passive]");
  }
  document.addEventListener("htmx:responseError", function (event) {
    if (passive(event)) { return; }  // a polling row retries by itself
    var status = event.detail.xhr.status;
    showError(ERRORS[status] || "Ocurrió un error inesperado. Inténtalo de nuevo más tarde.");
  });
  document.addEventListener("htmx:sendError", function (event) {
    if (passive(event)) { return; }
    showError("No fue posible comunicarse con el servidor. Revisa tu conexión e inténtalo de nuevo.");
  });

  // Idle timeout: warn one minute before the server ends the session; "Mantener sesión" renews it.
  var body = document.body;
  var minutes = parseFloat(body.dataset.idleMinutes || "0");
  if (!minutes) { return; }
  var dialog = document.getElementById("idle-dialog");
  var limitMs = minutes * 60 * 1000;
  var warnBeforeMs = Math.min(60 * 1000, limitMs / 2);
  var warnTimer, expireTimer, countdownTimer, deadline;
  var countdown = document.getElementById("idle-countdown");

  function tick() {
    if (countdown) { countdown.textContent = Math.max(0, Math.round((deadline - Date.now()) / 1000)); }
  }

  function schedule() {
    clearTimeout(warnTimer);
    clearTimeout(expireTimer);
    clearInterval(countdownTimer);
    deadline = Date.now() + limitMs;
    warnTimer = setTimeout(function () {
      tick();
      countdownTimer = setInterval(tick, 1000);
      if (dialog && !dialog.open) { dialog.showModal(); }
    }, limitMs - warnBeforeMs);
    expireTimer = setTimeout(function () {
      window.location.href = body.dataset.loginUrl;
    }, limitMs + 1000);
  }

  function keepAlive() {
    fetch(body.dataset.keepaliveUrl, {
      method: "POST",
      headers: { "X-CSRFToken": token ? token.content : "" },
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok || response.redirected) { window.location.href = body.dataset.loginUrl; return; }
      if (dialog && dialog.open) { dialog.close(); }
      clearInterval(countdownTimer);
      schedule();
    });
  }

  var keep = document.getElementById("idle-keep");
  if (keep) { keep.addEventListener("click", keepAlive); }
  // Escape closes the dialog: the user is clearly present, so it also keeps the session.
  if (dialog) { dialog.addEventListener("cancel", function (event) { event.preventDefault(); keepAlive(); }); }
  document.addEventListener("htmx:afterRequest", function (event) {
    // Polling ([data-passive]) is not user activity: the server doesn't renew the session for it.
    var elt = event.detail.elt;
    if (!(elt && elt.closest && elt.closest("[data-passive]"))) { schedule(); }
  });
  schedule();
})();
