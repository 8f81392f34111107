"""Front ends: Slack (Bolt app, fast ack, Block Kit renderer, App Home, modals), the web pages, the HTTP
server and the terminal console. They turn requests into Context and Reply into their medium."""
