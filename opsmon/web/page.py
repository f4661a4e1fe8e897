"""The wall's page: textual-serve's, with every asset from this server (a post's LAN has no internet).

textual-serve's own template loads "Roboto Mono" from a web font service.
Here the same font comes from the copy textual-serve ships in its static
folder (so the terminal's metrics stay as textual.js expects), with the
system's monospace behind it. A refused or ended tab says why: the close
reason the server gave is put in the dialog as text, never as markup.
"""

from __future__ import annotations

PAGE = """<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8" />
    <title>{{ application.name }}</title>
    <link rel="stylesheet" href="{{ config.static.url }}css/xterm.css" />
    <style>
      @font-face {
        font-family: "Roboto Mono";
        font-style: normal;
        font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype");
      }
      @font-face {
        font-family: "Roboto Mono";
        font-style: italic;
        font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype");
      }
      body { background: #0c181f; margin: 0; }
      .dialog-container {
        position: absolute; width: 100vw; height: 100vh; display: flex;
        align-items: center; justify-content: center; z-index: 10;
      }
      .shade { position: absolute; width: 100%; height: 100%; background: #0c181f; }
      .intro {
        min-width: 640px; min-height: 160px; padding: 16px; font-size: 16px; z-index: 20;
        font-family: "Roboto Mono", monospace; text-align: center;
        color: rgba(255, 255, 255, 0.95); background-color: #12232d;
        display: flex; flex-direction: column; align-items: center; justify-content: center;
      }
      body.-first-byte .intro-dialog { display: none; }
      body .textual-terminal { opacity: 0; }
      body.-first-byte .textual-terminal { opacity: 1; }
      button {
        padding: 16px 32px; margin: 16px; border: none; background-color: #5e0ba7;
        color: rgba(255, 255, 255, 0.95); font-family: "Roboto Mono", monospace;
      }
      button:hover { background: #ac5af4; cursor: pointer; }
      .closed-dialog { display: none; }
      body.-closed .closed-dialog { display: flex; }
    </style>
    <script>
      // Keep the reason a closed tab was given (e.g. too many walls open) to show it, as text.
      (function () {
        const Native = window.WebSocket;
        window.WebSocket = class extends Native {
          constructor(...args) {
            super(...args);
            this.addEventListener("close", (event) => {
              const message = document.querySelector(".closed-dialog .message");
              if (message && event.reason) message.textContent = event.reason;
            });
          }
        };
      })();
    </script>
    <script src="{{ config.static.url }}js/textual.js"></script>
  </head>
  <body>
    <div class="dialog-container intro-dialog">
      <div class="shade"></div>
      <div class="intro"><div>{{ application.name }}</div></div>
    </div>
    <div class="dialog-container closed-dialog">
      <div class="shade"></div>
      <div class="intro">
        <div class="message">Session ended.</div>
        <button type="button" onclick="window.location.reload()">Restart</button>
      </div>
    </div>
    <div
      id="terminal"
      class="textual-terminal"
      data-session-websocket-url="{{ app_websocket_url }}"
      data-font-size="{{ font_size }}"
    ></div>
  </body>
</html>
"""
