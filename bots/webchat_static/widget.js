/*
 * otklik web chat widget. A chain adds it to its site with one tag:
 *
 *   <script src="https://bot.example.com/widget.js" async></script>
 *
 * It adds a chat button at the bottom right that opens the bot's chat page in an iframe. The bot's
 * address is taken from this script's own src; an optional data-start="..." attribute is passed to
 * the bot as the deep-link payload (?start=...). Nothing is requested until the shopper opens the
 * chat, styles live in a shadow root so the site's CSS and ours cannot touch each other, and the
 * only global is window.OtklikWidget ({open, close, toggle}).
 */
(function () {
  "use strict";

  if (window.OtklikWidget) return;  // the tag was added twice

  var script = document.currentScript ||
    document.querySelector('script[src$="/widget.js"]');
  if (!script || !script.src) return;

  var base = new URL(".", script.src);  // the bot, with its path prefix if it has one
  var start = script.getAttribute("data-start");
  var english = /^en\b/i.test(navigator.language || "");
  var UI = english
    ? { open: "Open the chat", close: "Close the chat", title: "Support chat" }
    : { open: "Открыть чат", close: "Закрыть чат", title: "Чат поддержки" };

  var CSS = [
    ":host { all: initial; }",
    ".launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;",
    "  width: 60px; height: 60px; border: 0; border-radius: 50%; cursor: pointer;",
    "  background: #1a66d2; color: #fff; box-shadow: 0 4px 16px rgba(0,0,0,.25);",
    "  display: grid; place-items: center; }",
    ".launcher:focus-visible, .close:focus-visible { outline: 3px solid #f5a700;",
    "  outline-offset: 2px; }",
    ".launcher svg { width: 28px; height: 28px; }",
    ".panel { position: fixed; right: 20px; bottom: 92px; z-index: 2147483000;",
    "  width: 380px; height: min(620px, calc(100vh - 120px)); display: flex;",
    "  flex-direction: column; border-radius: 16px; overflow: hidden; background: #fff;",
    "  box-shadow: 0 8px 32px rgba(0,0,0,.3);",
    "  font: 15px/1.3 system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif; }",
    ".panel[hidden] { display: none; }",
    ".bar { display: flex; align-items: center; justify-content: space-between;",
    "  padding: 8px 8px 8px 16px; background: #1a66d2; color: #fff; }",
    ".close { width: 36px; height: 36px; border: 0; border-radius: 50%; cursor: pointer;",
    "  background: transparent; color: inherit; font-size: 22px; line-height: 1; }",
    "iframe { flex: 1; width: 100%; border: 0; }",
    "@media (max-width: 480px) {",
    "  .panel { inset: 0; width: auto; height: auto; border-radius: 0; }",
    "  .panel:not([hidden]) + .launcher { display: none; }",
    "}"
  ].join("\n");

  var ICON_CHAT = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 ' +
    '2-2z"/></svg>';
  var ICON_CLOSE = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4' +
    '-5.6-5.6L19 6.4 17.6 5 12 10.6z"/></svg>';

  var host, panel, launcher, frame;

  function build() {
    host = document.createElement("div");
    host.setAttribute("data-otklik-widget", "");
    var root = host.attachShadow({ mode: "open" });
    var style = document.createElement("style");
    style.textContent = CSS;

    panel = document.createElement("div");
    panel.className = "panel";
    panel.id = "otklik-chat";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", UI.title);
    var bar = document.createElement("div");
    bar.className = "bar";
    var title = document.createElement("span");
    title.textContent = UI.title;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.setAttribute("aria-label", UI.close);
    close.textContent = "×";
    close.addEventListener("click", function () { api.close(); });
    bar.append(title, close);
    panel.append(bar);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") api.close();
    });

    launcher = document.createElement("button");
    launcher.type = "button";
    launcher.className = "launcher";
    launcher.setAttribute("aria-controls", "otklik-chat");
    launcher.addEventListener("click", function () { api.toggle(); });

    root.append(style, panel, launcher);
    document.body.appendChild(host);
    render(false);
  }

  function render(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.setAttribute("aria-label", open ? UI.close : UI.open);
    launcher.innerHTML = open ? ICON_CLOSE : ICON_CHAT;  // constant markup, no outside input
  }

  function chatUrl() {
    var url = new URL(base.href);
    url.searchParams.set("embed", "1");
    if (start) url.searchParams.set("start", start);
    return url.href;
  }

  var api = {
    open: function () {
      if (!host) return;
      if (!frame) {  // the chat loads on first open, not with the chain's page
        frame = document.createElement("iframe");
        frame.src = chatUrl();
        frame.title = UI.title;
        panel.append(frame);
      }
      render(true);
      frame.focus();
    },
    close: function () {
      if (!host || panel.hidden) return;
      render(false);
      launcher.focus();
    },
    toggle: function () {
      if (host && panel.hidden) api.open();
      else api.close();
    }
  };
  window.OtklikWidget = api;

  // Escape pressed inside the chat (focus is there once it opens): only our own frame may ask.
  window.addEventListener("message", function (event) {
    if (frame && event.source === frame.contentWindow && event.origin === base.origin &&
        event.data && event.data.otklik === "close") {
      api.close();
    }
  });

  if (document.body) build();
  else document.addEventListener("DOMContentLoaded", build);
})();
