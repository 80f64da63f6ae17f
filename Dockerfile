# One image for baton's processes (worker, bank simulator, SMS sink, client); docker-compose.yml picks the command.

# Build stage: compile the sources to JavaScript and bundle the workflow code once, with the image.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build -- dist

# Runtime stage: production dependencies and the built release only, run by plain node (no tsx, no bundler at start).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
# The SDK's native core runs many threads, and glibc gives each its own malloc arena; two arenas took a worker with
# 1000 parked payments from 626 to 526 MiB at the same CPU per payment (bench/README.md, "Worker memory").
ENV MALLOC_ARENA_MAX=2

USER node
CMD ["node", "dist/js/workers/main.js"]
