// The Node-RED node files that reach the host or the network (commands, files, sockets, HTTP, WebSocket and MQTT
// clients). The flows runtime does not load them, so they are neither in the palette nor deployable, unless
// security.editor.allowNodes names them.
export const SYSTEM_NODE_FILES = [
  '90-exec.js',
  '10-file.js',
  '23-watch.js',
  '31-tcpin.js',
  '32-udp.js',
  '21-httprequest.js',
  '22-websocket.js',
  '10-mqtt.js',
] as const;
