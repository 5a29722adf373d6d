// `gateway in`: messages the gateway receives (MQTT devices, adapters) that match a topic filter, handed over in
// process through a flow tap. QoS >= 1 messages are journaled before the device's PUBACK; the tap is completed only
// when every node in the flow has finished with the message (see flows/tracker.ts), so a crash mid-flow replays it.
module.exports = (RED) => {
  function parsePayload(buf, mode) {
    if (mode === 'buffer') return buf;
    if (mode === 'string') return buf.toString('utf8');
    // auto: parsed JSON when it is JSON, else the raw bytes
    const first = buf[0];
    if (first === 0x7b || first === 0x5b || first === 0x22 || (first >= 0x30 && first <= 0x39) || first === 0x2d) {
      try {
        return JSON.parse(buf.toString('utf8'));
      } catch {
        return buf;
      }
    }
    if (buf.length <= 5) {
      const text = buf.toString('utf8');
      if (text === 'true') return true;
      if (text === 'false') return false;
      if (text === 'null') return null;
    }
    return buf;
  }

  function GatewayInNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const gw = RED.settings.gatewayFlows;
    const filter = config.topic || '#';
    const mode = config.payloadType || 'auto';
    if (!gw) {
      node.status({ fill: 'red', shape: 'ring', text: 'not running in the gateway' });
      node.error('gateway in: no gateway bus (RED.settings.gatewayFlows is missing)');
      return;
    }
    let unregister;
    // Journaled messages are replayed as soon as the tap registers: wait until every node of the deployed flows
    // exists, or a replayed message would be routed to nodes not yet created and lost.
    const open = () => {
      try {
        unregister = gw.bus.tap({
          id: node.id,
          filter,
          deliver(m, complete) {
            const msg = {
              _msgid: RED.util.generateId(),
              topic: m.topic,
              payload: parsePayload(m.payload, mode),
              clientid: m.clientId,
              username: m.username,
              qos: m.qos,
              retain: m.retain === true,
              deviceSeq: m.deviceSeq,
              ingestTs: m.ingestTs,
              replay: m.replay === true,
            };
            gw.tracker.track(msg._msgid, complete, () => node.send(msg));
          },
        });
        node.status({ fill: 'green', shape: 'dot', text: filter });
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: 'tap failed' });
        node.error(`gateway in: cannot tap ${filter}: ${err?.message}`);
      }
    };
    RED.events.once('flows:started', open);
    node.on('close', (done) => {
      RED.events.removeListener('flows:started', open);
      if (unregister) unregister();
      done();
    });
  }
  RED.nodes.registerType('gateway in', GatewayInNode);
};
