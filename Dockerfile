# One image for baton's processes (worker, bank simulator, client); docker-compose.yml picks the command.
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

# tsx runs the TypeScript sources directly, and it is a runtime dependency, so dev tools can stay out.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY . .
# The workflow code is bundled once, with the image, so a worker starts without running the bundler.
RUN node --import tsx workers/build-workflow-bundle.ts dist/workflow-bundle.js
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js

USER node
CMD ["node", "--import", "tsx", "workers/worker.ts"]
