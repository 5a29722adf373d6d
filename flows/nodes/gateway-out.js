// `gateway out`: publishes into the gateway's broker in process (e.g. a command to a device), optionally also through
// the configured routes to the outbox. Completes once the publish is done (durable when routed).
module.exports = (RED) => {
  function toBuffer(payload) {
    if (Buffer.isBuffer(payload)) return payload;
    if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
    if (payload === undefined || payload === null) return Buffer.alloc(0);
    return Buffer.from(JSON.stringify(payload), 'utf8');
  }

  function GatewayOutNode(config) {
    RED.nodes.createNode(this, config);
    const gw = RED.settings.gatewayFlows;
    const fixedTopic = (config.topic || '').trim();
    const qos = config.qos === '' || config.qos === undefined ? undefined : Number(config.qos);
    const toRoutes = config.toRoutes === true;
    if (!gw) {
      this.status({ fill: 'red', shape: 'ring', text: 'not running in the gateway' });
      this.error('gateway out: no gateway bus (RED.settings.gatewayFlows is missing)');
    }
    this.on('input', (msg, _send, done) => {
      if (!gw) {
        done(new Error('gateway out: no gateway bus'));
        return;
      }
      const topic = fixedTopic || msg.topic;
      if (typeof topic !== 'string' || topic === '' || topic.includes('+') || topic.includes('#')) {
        done(new Error(`gateway out: invalid topic ${JSON.stringify(topic)}`));
        return;
      }
      const q = qos ?? msg.qos;
      gw.bus
        .publish(
          {
            topic,
            payload: toBuffer(msg.payload),
            qos: q === 1 || q === 2 ? q : 0,
            clientId: config.clientId || 'gateway-flows',
            retain: config.retain === true,
          },
          { toBroker: true, toRoutes },
        )
        .then(
          () => done(),
          (err) => done(err),
        );
    });
  }
  RED.nodes.registerType('gateway out', GatewayOutNode);
};
