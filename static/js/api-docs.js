// The API's docs page (templates/api/docs.html): Swagger UI from our own static files, on the schema the code
// generates. No inline script (the CSP allows none).
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  if (!node || !window.SwaggerUIBundle) {
    return;
  }
  window.SwaggerUIBundle({
    url: node.dataset.schemaUrl,
    domNode: node,
    deepLinking: true,
    tryItOutEnabled: false,
    validatorUrl: null,
  });
})();
