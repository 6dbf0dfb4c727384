"""Routing plugins: the registry, and the built-in producers, filters, scorers and pickers.

Each plugin is a class subclassing its Protocol from `gateway.routing.interfaces` and
`RoutingPlugin`; the registry maps its kebab-case `type_name` to the class, and the routing
policy (`policies/routing.yaml`) names the instances to build. Plugins never import each
other; what they share lives in `gateway.routing`.
"""
